#!/usr/bin/env node
// Loopback node-oidc-provider (9.x) for grpcjwt interop tests.
//
// Issues JWT access tokens (header typ "at+jwt") through the client_credentials grant
// with Resource Indicators (RFC 8707), in the three shapes Logto (whose engine this is)
// gives machine-to-machine apps:
//
//   resource=<RESOURCE>                        aud <RESOURCE>, scopes of RESOURCE_SCOPES
//   resource=<RESOURCE>&organization_id=<id>   the same, plus the claim organization_id <id>
//   organization_id=<id>                       aud urn:logto:organization:<id> (an organization
//                                              token), scopes of ORGANIZATION_SCOPES
//
// Without resource and organization_id the token is for RESOURCE. organization_id must be
// one of ORGANIZATIONS, the organizations the client is a member of; any other gets
// access_denied (HTTP 403, as Logto answers). An organization's audience cannot be asked
// for with resource= alone: invalid_target, like any resource but RESOURCE.
// Everything is in memory.
//
// Sender-constrained tokens (RFC 9449, RFC 8705 §3):
//   DPoP              a token request with a DPoP header (a proof, htu the token endpoint)
//                     gets a DPoP-bound token: token_type "DPoP", cnf.jkt the RFC 7638
//                     thumbprint of the proof's key. Without the header: a Bearer token.
//   TLS_CERT/TLS_KEY  serve HTTPS instead, asking every client for a certificate
//                     (accepting any, verified or not); the client is then registered with
//                     tls_client_certificate_bound_access_tokens, so its tokens carry
//                     cnf["x5t#S256"], the SHA-256 thumbprint of the certificate of the token
//                     request's TLS connection, and a token request without one is refused
//                     (invalid_grant). The client still authenticates with its secret.
//
// Environment (all optional):
//   HOST              listen address                          default 127.0.0.1
//   PORT              listen port, 0 = pick a free one         default 0
//   MOUNT_PATH        path prefix of the issuer                default /oidc
//   CLIENT_ID         client_credentials client id             default grpcjwt-client
//   CLIENT_SECRET     its secret (client_secret_basic/post)    default grpcjwt-secret
//   RESOURCE          resource indicator = token "aud"         default https://api.example.com
//   RESOURCE_SCOPES   space-separated scopes of that resource  default "greet:read greet:write"
//   ORGANIZATIONS     space-separated ids of the organizations the client is a member of
//                                                              default "" (none)
//   ORGANIZATION_SCOPES  space-separated scopes of an organization token (Logto's
//                     organization permissions)                default "greet:read greet:write"
//   ACCESS_TOKEN_TTL  access token lifetime in seconds         default 3600
//   JWKS_FILE         path to a private JWKS JSON ({"keys":[...]}); the first key signs
//                     (see genkey.mjs); all its keys are published at <issuer>/jwks.
//                     Unset: one ephemeral key of SIGN_ALG (default RS256) is generated.
//   SIGN_KID          kid of the signing key; default: the first key of the JWKS
//   SIGN_ALG          JWS alg for access tokens; default: "alg" of the signing key, else
//                     RS256 for RSA keys, ES256/ES384/ES512 for EC P-256/384/521, EdDSA for OKP
//   EXTRA_CLAIMS      JSON object merged into every access token payload
//   ACCESS_TOKEN_FORMAT  "jwt" or "opaque": the format of the resource's access tokens
//                     default jwt. Either way the token introspection (RFC 7662) and
//                     revocation (RFC 7009) endpoints are on (named by discovery); the
//                     provider introspects its opaque tokens only (a JWT gets
//                     400 invalid_request there).
//   JWT_INTROSPECTION "1": introspection answers a request with
//                     "Accept: application/token-introspection+jwt" with a JWT signed
//                     with the signing key under SIGN_ALG (RFC 9701; features.jwtIntrospection,
//                     every client's introspection_signed_response_alg); discovery lists
//                     introspection_signing_alg_values_supported. Other requests get JSON.
//                                                              default: off
//   API_CLIENT_ID     a client for the resource server, to introspect tokens with: it
//                     authenticates with client_secret_basic, and API_CLIENT_ID-post with
//                     client_secret_post                      default grpcjwt-api
//   API_CLIENT_SECRET their secret                            default grpcjwt-api-secret
//   TLS_CERT          PEM file: the server's certificate (chain); with TLS_KEY, serve HTTPS
//                     with certificate-bound tokens (above)
//   TLS_KEY           PEM file: its private key
//   TLS_CA            PEM file: the CAs named in the request for a client certificate
//                     (a Go client sends only a certificate one of them issued); optional
//
// Prints exactly one line to stdout once it accepts connections:
//   listening http://127.0.0.1:PORT/oidc     (https:// with TLS_CERT)
// (the issuer). All diagnostics, including oidc-provider's notices, go to stderr.
// Exits 0 on SIGTERM / SIGINT.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';

// oidc-provider prints NOTICE lines with console.info (stdout); keep stdout for the readiness line.
console.info = (...args) => console.error(...args);

const { default: Provider, errors } = await import('oidc-provider');
// The provider's internals, to extend its client_credentials grant with organization_id:
// the token endpoint drops every parameter a grant has not registered (extraParams only
// reach the authorization endpoint), and the grant's handler is not exported.
const { default: internals } = await import('oidc-provider/lib/helpers/weak_cache.js');

const env = process.env;
const HOST = env.HOST || '127.0.0.1';
const PORT = Number.parseInt(env.PORT || '0', 10);
let MOUNT_PATH = env.MOUNT_PATH ?? '/oidc';
if (MOUNT_PATH.endsWith('/')) MOUNT_PATH = MOUNT_PATH.slice(0, -1);
if (MOUNT_PATH && !MOUNT_PATH.startsWith('/')) MOUNT_PATH = `/${MOUNT_PATH}`;
const CLIENT_ID = env.CLIENT_ID || 'grpcjwt-client';
const CLIENT_SECRET = env.CLIENT_SECRET || 'grpcjwt-secret';
const RESOURCE = env.RESOURCE || 'https://api.example.com';
const RESOURCE_SCOPES = env.RESOURCE_SCOPES ?? 'greet:read greet:write';
const ACCESS_TOKEN_TTL = Number.parseInt(env.ACCESS_TOKEN_TTL || '3600', 10);
const EXTRA_CLAIMS = env.EXTRA_CLAIMS ? JSON.parse(env.EXTRA_CLAIMS) : undefined;
const ACCESS_TOKEN_FORMAT = env.ACCESS_TOKEN_FORMAT || 'jwt';
const JWT_INTROSPECTION = env.JWT_INTROSPECTION === '1';
const API_CLIENT_ID = env.API_CLIENT_ID || 'grpcjwt-api';
const API_CLIENT_SECRET = env.API_CLIENT_SECRET || 'grpcjwt-api-secret';
const ORGANIZATIONS = new Set((env.ORGANIZATIONS ?? '').split(' ').filter(Boolean));
const ORGANIZATION_SCOPES = env.ORGANIZATION_SCOPES ?? 'greet:read greet:write';
// Logto's audience of an organization token: this prefix and the organization id.
const ORGANIZATION_URN = 'urn:logto:organization:';

function fail(msg) {
  process.stderr.write(`provider.mjs: ${msg}\n`);
  process.exit(1);
}

if (!Number.isInteger(PORT) || PORT < 0 || PORT > 65535) fail(`bad PORT ${env.PORT}`);
if (!Number.isInteger(ACCESS_TOKEN_TTL) || ACCESS_TOKEN_TTL < 1) fail(`bad ACCESS_TOKEN_TTL ${env.ACCESS_TOKEN_TTL}`);
if (!['jwt', 'opaque'].includes(ACCESS_TOKEN_FORMAT)) fail(`bad ACCESS_TOKEN_FORMAT ${ACCESS_TOKEN_FORMAT}: want jwt or opaque`);

function defaultAlgFor(jwk) {
  if (jwk.alg) return jwk.alg;
  switch (jwk.kty) {
    case 'RSA': return 'RS256';
    case 'EC': return { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' }[jwk.crv];
    case 'OKP': return 'EdDSA';
    default: return undefined;
  }
}

function generateJwk(alg) {
  let pair;
  if (/^(RS|PS)/.test(alg)) pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  else if (alg === 'ES256') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  else if (alg === 'ES384') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
  else if (alg === 'ES512') pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-521' });
  else if (alg === 'EdDSA' || alg === 'Ed25519') pair = crypto.generateKeyPairSync('ed25519');
  else fail(`cannot generate a key for SIGN_ALG ${alg}`);
  return {
    ...pair.privateKey.export({ format: 'jwk' }),
    kid: `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`,
    alg,
    use: 'sig',
  };
}

let jwks;
if (env.JWKS_FILE) {
  try {
    jwks = JSON.parse(fs.readFileSync(env.JWKS_FILE, 'utf8'));
  } catch (err) {
    fail(`cannot read JWKS_FILE ${env.JWKS_FILE}: ${err.message}`);
  }
  if (!Array.isArray(jwks?.keys) || jwks.keys.length === 0) fail('JWKS_FILE must hold {"keys":[...]} with at least one private key');
} else {
  jwks = { keys: [generateJwk(env.SIGN_ALG || 'RS256')] };
  process.stderr.write(`provider.mjs: no JWKS_FILE, generated ephemeral key kid=${jwks.keys[0].kid}\n`);
}
const signingKey = env.SIGN_KID ? jwks.keys.find((k) => k.kid === env.SIGN_KID) : jwks.keys[0];
if (!signingKey) fail(`no key with kid ${env.SIGN_KID} in JWKS_FILE`);
const SIGN_ALG = env.SIGN_ALG || defaultAlgFor(signingKey);
if (!SIGN_ALG) fail('cannot tell the signing alg of the signing key; set SIGN_ALG or "alg" on the key');
const SIGN_KID = signingKey.kid; // undefined: provider picks a key for SIGN_ALG

function readFile(name) {
  try {
    return fs.readFileSync(env[name]);
  } catch (err) {
    return fail(`cannot read ${name} ${env[name]}: ${err.message}`);
  }
}

const TLS = Boolean(env.TLS_CERT || env.TLS_KEY);
if (TLS && !(env.TLS_CERT && env.TLS_KEY)) fail('TLS_CERT and TLS_KEY go together');

// Bind first so PORT=0 resolves to a real port before the issuer is fixed.
// With TLS every client is asked for a certificate, and a connection without one, or
// with one no CA vouches for, goes on: binding a token to a certificate needs no PKI
// (RFC 8705 §3), and the resource server compares thumbprints.
const server = TLS
  ? https.createServer({
    cert: readFile('TLS_CERT'),
    key: readFile('TLS_KEY'),
    ...(env.TLS_CA ? { ca: readFile('TLS_CA') } : {}),
    requestCert: true,
    rejectUnauthorized: false,
  })
  : http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
}).catch((err) => fail(`listen ${HOST}:${PORT}: ${err.message}`));
const { port } = server.address();
const hostForUrl = HOST.includes(':') ? `[${HOST}]` : HOST;
const ISSUER = `${TLS ? 'https' : 'http'}://${hostForUrl}:${port}${MOUNT_PATH}`;

const resourceServer = {
  scope: RESOURCE_SCOPES,
  audience: RESOURCE,
  accessTokenTTL: ACCESS_TOKEN_TTL,
  accessTokenFormat: ACCESS_TOKEN_FORMAT,
  jwt: { sign: { alg: SIGN_ALG, ...(SIGN_KID ? { kid: SIGN_KID } : {}) } },
};

// organizationResource is the resource server of an organization token.
const organizationResource = (audience) => ({ ...resourceServer, scope: ORGANIZATION_SCOPES, audience });

// clientCertificate is the PEM of the certificate the client presented in the TLS
// handshake of the request's connection, or undefined.
function clientCertificate(ctx) {
  const peer = ctx.req.socket.getPeerCertificate?.();
  if (!peer?.raw) return undefined;
  return new crypto.X509Certificate(peer.raw).toString();
}

// tokenClaims are the claims added to every access token: EXTRA_CLAIMS, and
// organization_id when the token request named an organization and a resource (an
// organization token names it in its audience instead).
function tokenClaims(ctx, token) {
  const claims = { ...EXTRA_CLAIMS };
  const org = ctx?.oidc?.params?.organization_id;
  if (org && token.resourceServer?.audience !== ORGANIZATION_URN + org) claims.organization_id = org;
  // The login behind the token (RFC 9470), from the test-only acr, amr and
  // auth_time parameters of the client_credentials grant below, as a user
  // grant's token would carry them: acr as given, amr space-separated into an
  // array, auth_time in seconds since the epoch.
  const params = ctx?.oidc?.params;
  if (params?.acr) claims.acr = params.acr;
  if (params?.amr) claims.amr = params.amr.split(' ').filter(Boolean);
  if (params?.auth_time) {
    const authTime = Number(params.auth_time);
    if (!Number.isSafeInteger(authTime)) throw new errors.InvalidRequest('auth_time must be an integer');
    claims.auth_time = authTime;
  }
  return Object.keys(claims).length ? claims : undefined;
}

const provider = new Provider(ISSUER, {
  jwks,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    // with TLS: every access token bound to the certificate of its token request
    tls_client_certificate_bound_access_tokens: TLS,
  }, ...[['', 'client_secret_basic'], ['-post', 'client_secret_post']].map(([suffix, method]) => ({
    // the resource server's clients: they introspect, and are issued nothing
    client_id: API_CLIENT_ID + suffix,
    client_secret: API_CLIENT_SECRET,
    grant_types: [],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: method,
  }))],
  clientDefaults: {
    // the default (RS256) would be rejected when the JWKS has no RSA key
    id_token_signed_response_alg: SIGN_ALG,
    // likewise; a client metadata name only while the feature is on
    ...(JWT_INTROSPECTION ? { introspection_signed_response_alg: SIGN_ALG } : {}),
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    jwtIntrospection: { enabled: JWT_INTROSPECTION },
    revocation: { enabled: true },
    // on by default in 9.x; named so that an upgrade that turns it off is seen here
    dPoP: { enabled: true },
    mTLS: {
      enabled: TLS,
      certificateBoundAccessTokens: TLS,
      getCertificate: clientCertificate,
    },
    resourceIndicators: {
      enabled: true,
      // a client_credentials request without resource= still gets a JWT for RESOURCE
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (resourceIndicator === RESOURCE) return resourceServer;
        // set by the client_credentials grant below, for organization_id without resource
        const org = ctx.oidc.params?.organization_id;
        if (org && resourceIndicator === ORGANIZATION_URN + org) return organizationResource(resourceIndicator);
        throw new errors.InvalidTarget();
      },
    },
  },
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
  },
  extraTokenClaims: async (ctx, token) => tokenClaims(ctx, token),
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
});
provider.proxy = false;

// client_credentials with organization_id, as Logto's: the same grant, with one more
// parameter (and, for the step-up tests only, acr, amr and auth_time: see tokenClaims). An organization outside ORGANIZATIONS is refused; organization_id without
// resource asks for the organization's audience as the resource.
{
  const grant = 'client_credentials';
  const { grantTypeHandlers, grantTypeParams, grantTypeDupes } = internals(provider);
  const handler = grantTypeHandlers.get(grant);
  provider.registerGrantType(grant, async (ctx) => {
    const { params } = ctx.oidc;
    const org = params.organization_id;
    if (org !== undefined) {
      if (!ORGANIZATIONS.has(org)) {
        const err = new errors.AccessDenied('the client is not a member of the organization');
        err.statusCode = 403;
        throw err;
      }
      if (params.resource === undefined) params.resource = ORGANIZATION_URN + org;
    }
    return handler(ctx);
  }, new Set([...grantTypeParams.get(grant), 'organization_id', 'acr', 'amr', 'auth_time']), grantTypeDupes.get(grant));
}

provider.on('server_error', (ctx, err) => process.stderr.write(`provider.mjs: server_error: ${err.stack || err}\n`));

const callback = provider.callback();
server.on('request', (req, res) => {
  // Mount under MOUNT_PATH: the provider routes on the stripped path and derives the
  // mount prefix for the URLs it prints (discovery) from req.originalUrl.
  const url = req.url || '/';
  if (!MOUNT_PATH) return callback(req, res);
  if (url === MOUNT_PATH || url.startsWith(`${MOUNT_PATH}/`) || url.startsWith(`${MOUNT_PATH}?`)) {
    req.originalUrl = url;
    const rest = url.slice(MOUNT_PATH.length);
    req.url = rest.startsWith('/') ? rest : `/${rest}`;
    return callback(req, res);
  }
  res.statusCode = 404;
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ error: 'not_found', error_description: `issuer is ${ISSUER}` }));
  return undefined;
});

function shutdown(signal) {
  process.stderr.write(`provider.mjs: ${signal}, exiting\n`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

process.stderr.write(`provider.mjs: issuer=${ISSUER} client_id=${CLIENT_ID} resource=${RESOURCE} scopes="${RESOURCE_SCOPES}" organizations="${[...ORGANIZATIONS].join(' ')}" alg=${SIGN_ALG} kid=${SIGN_KID ?? '(auto)'} ttl=${ACCESS_TOKEN_TTL}s format=${ACCESS_TOKEN_FORMAT} jwt_introspection=${JWT_INTROSPECTION} tls=${TLS}\n`);
process.stdout.write(`listening ${ISSUER}\n`);
