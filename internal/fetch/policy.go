package fetch

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Adyen's report hosts: the Customer Areas of its test and live environments.
const (
	TestHost = "ca-test.adyen.com"
	LiveHost = "ca-live.adyen.com"
)

// DefaultHosts are Adyen's report hosts: the test and the live Customer Area. A stack allows the host of
// its own environment only (the template's AdyenEnvironment sets REPORT_HOSTS).
var DefaultHosts = []string{TestHost, LiveHost}

// IsAdyenHost reports whether u is on one of Adyen's report hosts over https, at the default port.
func IsAdyenHost(u *url.URL) bool {
	return u.Scheme == "https" && (u.Port() == "" || u.Port() == "443") && slices.Contains(DefaultHosts, strings.ToLower(u.Hostname()))
}

// Policy says which URLs may be fetched. The URL of a report comes from the internet, so everything not
// allowed is refused: another scheme, another host, credentials in the URL, a redirect to another host,
// and an address that is not public, checked on the address actually dialled (so a host name that
// resolves to an internal address, at first or on a later lookup, is refused too).
type Policy struct {
	// Hosts are the allowed hosts: "host" (default port only) or "host:port". Empty: DefaultHosts.
	Hosts []string
	// DevServer is a local stand-in for Adyen (`settle fetch --dev-server`): URLs naming exactly this
	// loopback address and port are allowed, over plain http too, and it may be dialled though it is
	// not public. Plain http is allowed nowhere else. The zero value (or an address that is not
	// loopback) allows none.
	DevServer netip.AddrPort
	// AllowAddr says whether an address may be dialled; nil: PublicAddr. Tests allow loopback with it.
	AllowAddr func(netip.Addr) bool
}

// RefusedError is a URL, redirect or address outside the Policy. Retrying cannot help.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

func (p Policy) hosts() []string {
	if len(p.Hosts) == 0 {
		return DefaultHosts
	}
	return p.Hosts
}

// CheckURL parses raw and returns it when the policy allows it, else a *RefusedError saying why.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &RefusedError{Reason: "not a URL"}
	}
	dev := p.isDevServer(u)
	switch {
	case u.Scheme == "https", u.Scheme == "http" && dev:
	case u.Scheme == "http" && p.devServer().IsValid():
		return nil, &RefusedError{Reason: fmt.Sprintf("scheme %q: only https is allowed, and plain http to the dev server %s only", u.Scheme, p.DevServer)}
	default:
		return nil, &RefusedError{Reason: fmt.Sprintf("scheme %q: only https is allowed", u.Scheme)}
	}
	if u.User != nil {
		return nil, &RefusedError{Reason: "the URL carries credentials"}
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, &RefusedError{Reason: "the URL has no host"}
	}
	if !dev && !p.hostAllowed(u) {
		return nil, &RefusedError{Reason: fmt.Sprintf("host %s is not one of the allowed hosts %s", u.Host, strings.Join(p.hosts(), ", "))}
	}
	return u, nil
}

// devServer is DevServer when it is a loopback address and port, else the zero value.
func (p Policy) devServer() netip.AddrPort {
	if !p.DevServer.IsValid() || !p.DevServer.Addr().Unmap().IsLoopback() || p.DevServer.Port() == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(p.DevServer.Addr().Unmap(), p.DevServer.Port())
}

// isDevServer reports whether u names exactly the dev server: its address as an IP literal (a name
// could resolve elsewhere) and its port, given or the scheme's default.
func (p Policy) isDevServer(u *url.URL) bool {
	dev := p.devServer()
	if !dev.IsValid() {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return false
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "http":
		port = "80"
	default:
		port = "443"
	}
	return a.Unmap() == dev.Addr() && port == strconv.Itoa(int(dev.Port()))
}

// hostAllowed compares the URL's host (lower case) and port with the allowed hosts; an entry without a
// port allows the scheme's default port only.
func (p Policy) hostAllowed(u *url.URL) bool {
	host, port := strings.ToLower(u.Hostname()), u.Port()
	def := "443"
	if u.Scheme == "http" {
		def = "80"
	}
	if port == "" {
		port = def
	}
	return slices.ContainsFunc(p.hosts(), func(h string) bool {
		h = strings.ToLower(strings.TrimSpace(h))
		if hh, hp, err := net.SplitHostPort(h); err == nil {
			return hh == host && hp == port
		}
		return strings.Trim(h, "[]") == host && port == def
	})
}

// control is the dialer's Control function: it sees the address about to be connected, after name
// resolution, and refuses one the policy does not allow.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Reason: "cannot read the address " + address}
	}
	// An IPv4-mapped address is the IPv4 address it maps (the connection goes to it): checked as such.
	a := ap.Addr().Unmap()
	if dev := p.devServer(); dev.IsValid() && netip.AddrPortFrom(a, ap.Port()) == dev {
		return nil
	}
	allow := p.AllowAddr
	if allow == nil {
		allow = PublicAddr
	}
	if !allow(a) {
		return &RefusedError{Reason: fmt.Sprintf("address %s is not public", a)}
	}
	return nil
}

// nonPublic are ranges netip's predicates leave out that no report host can be in: shared address space
// (carrier-grade NAT), IETF protocol assignments, documentation and benchmarking ranges, reserved space,
// and IPv6 prefixes that embed or translate IPv4 addresses, which could reach an internal IPv4 address
// through a gateway or a dual-stack host: IPv4-compatible (::/96, deprecated), IPv4-mapped
// (::ffff:0:0/96), IPv4-translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96 and the local-use
// 64:ff9b:1::/48), 6to4 and Teredo. Adyen's hosts publish none of them.
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96",
		"64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fec0::/10",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddr reports whether a is a public unicast address: not loopback, private (10/8, 172.16/12,
// 192.168/16, fc00::/7), link-local (169.254/16, where instance metadata lives, and fe80::/10),
// unspecified, multicast or one of the special ranges above. An IPv6 address embedding an IPv4 address
// is not public, whatever the IPv4 address (the dialer checks the IPv4 address an IPv4-mapped one
// connects to, as an IPv4 address).
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// ParseHosts reads a comma-separated list of allowed hosts (REPORT_HOSTS); empty means DefaultHosts.
func ParseHosts(s string) ([]string, error) {
	var out []string
	for h := range strings.SplitSeq(s, ",") {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if strings.ContainsAny(h, "/@?# ") {
			return nil, fmt.Errorf("REPORT_HOSTS: %q is not a host or host:port", h)
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return append([]string(nil), DefaultHosts...), nil
	}
	return out, nil
}
