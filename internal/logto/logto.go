// Package logto holds the names Logto gives organization tokens, for
// grpcjwt's defaults and grpcjwttest's minting alike.
package logto

// OrganizationAudiencePrefix, followed by an organization ID, is the
// audience of a Logto organization token.
const OrganizationAudiencePrefix = "urn:logto:organization:"

// OrganizationClaim names the organization of a Logto token for an API
// resource and an organization.
const OrganizationClaim = "organization_id"
