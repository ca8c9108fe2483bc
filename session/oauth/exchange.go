package oauth

import (
	"context"
	"fmt"
	"net/url"
)

// exchangeParams sets the RFC 8693 parameters of a token exchange: the
// subject token (and the actor token, when configured), fetched fresh for
// this request, and the requested token type. The tokens join carried, the
// secrets the answer must not echo.
func (c *Client) exchangeParams(ctx context.Context, form url.Values, carried *[]string) error {
	set := func(name string, supply TokenSupplier) error {
		tok, typ, err := supply(ctx)
		if err != nil {
			return fmt.Errorf("obtaining the %s: %w", name, err)
		}
		if tok == "" || typ == "" {
			return fmt.Errorf("the %s or its type is empty", name)
		}
		form.Set(name, tok.Reveal())
		form.Set(name+"_type", typ)
		*carried = append(*carried, tok.Reveal())
		return nil
	}
	if err := set("subject_token", c.e.SubjectToken); err != nil {
		return err
	}
	if c.e.ActorToken != nil {
		if err := set("actor_token", c.e.ActorToken); err != nil {
			return err
		}
	}
	if c.e.RequestedTokenType != "" {
		form.Set("requested_token_type", c.e.RequestedTokenType)
	}
	return nil
}
