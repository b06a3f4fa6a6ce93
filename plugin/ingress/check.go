package ingress

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
)

var titlePattern = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title>`)

// CheckPage fetches url and fails, with the reason, unless it answers 200
// with an HTML title equal to wantTitle.
func CheckPage(ctx context.Context, client *http.Client, url, wantTitle string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("bad URL %q: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s%s", url, resp.Status, hint(resp.StatusCode))
	}
	m := titlePattern.FindSubmatch(body)
	if m == nil {
		return fmt.Errorf("GET %s: 200 OK but the page has no <title> (want %q)", url, wantTitle)
	}
	got := strings.TrimSpace(html.UnescapeString(string(m[1])))
	if got != wantTitle {
		return fmt.Errorf("GET %s: page title is %q, want %q", url, got, wantTitle)
	}
	return nil
}

// hint says what a gateway's status usually means.
func hint(code int) string {
	switch code {
	case http.StatusNotFound:
		return " (no VirtualService route matches this path on the gateway: kubectl mesh bookinfo expose)"
	case http.StatusServiceUnavailable:
		return " (no healthy upstream: are the pods ready? kubectl mesh bookinfo status)"
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return " (the upstream failed or timed out)"
	}
	return ""
}
