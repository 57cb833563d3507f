package demo

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/grpcjwt/grpcjwt"
)

// WriteTable writes rows as an aligned table: number, call, the status
// code and message the client received (with, for a step-up refusal, the
// acr_values and max_age of its ErrorInfo), the subject the server's handler
// saw, how many response messages the client received, and ok or FAIL. Below it come the causes the server saw for the
// calls it refused, which the client never sees, and for every row that
// went wrong what was expected.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, " #\tCALL\tCODE\tMESSAGE\tSUBJECT\tREPLIES\tRESULT")
	for i, r := range rows {
		result := "ok"
		if !r.OK() {
			result = "FAIL"
		}
		message := orDash(r.Got.Message)
		if r.Got.StepUp != "" {
			message += " " + r.Got.StepUp
		}
		fmt.Fprintf(tw, "%2d\t%s\t%s\t%s\t%s\t%d\t%s\n", i+1, r.Call, r.Got.Code, message, orDash(r.Got.Subject), r.Got.Replies, result)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	header := "\nWhy the server refused (its reject hook sees this; the client only the message above):\n"
	for i, r := range rows {
		if r.Got.Cause != nil {
			if _, err := fmt.Fprintf(w, "%s%2d  %s\n", header, i+1, causeText(r.Got.Cause)); err != nil {
				return err
			}
			header = ""
		}
	}

	header = "\nCalls that did not go as expected:\n"
	for i, r := range rows {
		if !r.OK() {
			_, err := fmt.Fprintf(w, "%s%2d  %s\n      want %s; at least %d replies\n      got  %s; %d replies\n",
				header, i+1, r.Call, r.Want, r.Want.Replies, r.Got, r.Got.Replies)
			if err != nil {
				return err
			}
			header = ""
		}
	}
	return nil
}

// String formats r for the list of calls that went wrong.
func (r Result) String() string {
	msg := r.Message
	if r.StepUp != "" {
		msg += " " + r.StepUp
	}
	return fmt.Sprintf("%s %q, subject %q, server-side cause: %s", r.Code, msg, r.Subject, causeText(r.Cause))
}

// causeText is the short form of a cause: the cause sentinel of a
// rejected token ("token expired"), without the details meant for
// operators.
func causeText(err error) string {
	if err == nil {
		return "-"
	}
	if te, ok := errors.AsType[*grpcjwt.TokenError](err); ok {
		return te.Cause.Error()
	}
	return err.Error()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
