package grpcjwt

import (
	"errors"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Cause is a bounded name for why a call or token was refused, fit for a
// metric label, such as "expired" or "insufficient_scope". Each sentinel
// error a call is refused for is declared with its own Cause, which
// [CauseOf] returns: CauseOf(ErrTokenExpired) is "expired". ErrInvalidToken
// has none of its own; its causes have theirs. docs/operations.md lists
// them all.
type Cause string

// The two causes that are no sentinel's.
const (
	CauseNone  Cause = "none"  // the call or token was accepted: a nil error
	CauseOther Cause = "other" // an Authorizer's own status, or an error of no known kind
)

// A reason is one way a call or a token is refused, declared once, next to
// its sentinel error, by [wireReason] or [tokenReason]. Its label
// ([CauseOf]) and the status a client receives ([Status]) are derived from
// the declarations, and from nowhere else.
type reason struct {
	err   error // the sentinel
	cause Cause // its label; "" for ErrInvalidToken, which its causes label
	// status is what a client receives for err, built once (a refusal costs
	// no allocation beyond the error value); nil for a cause of
	// ErrInvalidToken, which is sent as that.
	status *status.Status
}

// reasons is every declared reason, in declaration order. The declarations
// fill it as the package's variables are initialized, before init runs.
var reasons []reason

// wireReason declares a sentinel error whose text is wireCode, the exact
// message of the status of code c that a call refused for it receives.
// label is its Cause; "" declares ErrInvalidToken, whose causes
// ([tokenReason]) have theirs.
func wireReason(c codes.Code, wireCode string, label Cause) error {
	err := errors.New(wireCode)
	reasons = append(reasons, reason{err: err, cause: label, status: newStatus(c, wireCode)})
	return err
}

// tokenReason declares a cause of ErrInvalidToken, a [TokenError]'s Cause:
// a sentinel error with the text message, labelled label.
func tokenReason(message string, label Cause) error {
	err := errors.New(message)
	reasons = append(reasons, reason{err: err, cause: label})
	return err
}

// Derived from reasons, by init.
var (
	// wireReasons are the reasons with a status of their own, in the order
	// [Status] tries them: as declared, ErrInvalidToken last.
	wireReasons []reason
	// statusInvalidToken is what an error no wire reason matches becomes.
	statusInvalidToken *status.Status
	// labelled are the reasons [CauseOf] tries, in its order: the wire
	// reasons but ErrInvalidToken, in Status's order, so that an error
	// matching several gets the label of the status it is sent as; then
	// the causes of ErrInvalidToken.
	labelled []reason
)

func init() {
	var invalidToken reason
	var causes []reason
	for _, r := range reasons {
		switch {
		case r.err == ErrInvalidToken:
			invalidToken = r
		case r.status != nil:
			wireReasons = append(wireReasons, r)
		default:
			causes = append(causes, r)
		}
	}
	labelled = slices.Concat(wireReasons, causes)
	wireReasons = append(wireReasons, invalidToken)
	statusInvalidToken = invalidToken.status
}

// newStatus builds the status of code c and message wireCode, with its
// google.rpc.ErrorInfo.
func newStatus(c codes.Code, wireCode string) *status.Status {
	s, err := status.New(c, wireCode).WithDetails(&errdetails.ErrorInfo{
		Reason:   errorInfoReason(wireCode),
		Domain:   ErrorDomain,
		Metadata: map[string]string{"code": wireCode},
	})
	if err != nil {
		// WithDetails fails only for an OK code or an unmarshalable
		// message; neither can happen here.
		panic(err)
	}
	return s
}

// errorInfoReason turns "auth.authorization_header_missing" into
// "AUTHORIZATION_HEADER_MISSING" for ErrorInfo.Reason.
func errorInfoReason(wireCode string) string {
	return strings.ToUpper(wireCode[strings.LastIndexByte(wireCode, '.')+1:])
}

// CauseOf returns the cause of an error from this package: the Cause its
// sentinel is declared with (for a [TokenError], that of its Cause),
// [CauseNone] for nil, and [CauseOther] for an error of no known kind or
// for ErrInvalidToken without a known cause. An error that matches several
// sentinels gets the cause of the one [Status] sends it as.
func CauseOf(err error) Cause {
	if err == nil {
		return CauseNone
	}
	if te, ok := err.(*TokenError); ok {
		err = te.Cause
	}
	for i := range labelled {
		if errors.Is(err, labelled[i].err) {
			return labelled[i].cause
		}
	}
	return CauseOther
}
