package main

// This file reads the flags that make the SIP side safe to expose: who may
// call, TLS and SRTP, and what a call may cost (transfers, call count,
// INVITE rate).

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/botline/botline/sip"
)

// sipOptions are the SIP security flags.
type sipOptions struct {
	allow, auth, realm, authAlgorithms string
	allowSilent                        bool
	tlsListen, tlsCert, tlsKey         string
	srtp                               string
	srtpPlainSignalling                bool
	tlsClientCA, tlsPeerName           string
	transferAllow                      string
	maxCalls                           int
	inviteRate                         float64
}

func (o *sipOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.allow, "sip-allow", "", "comma-separated CIDRs or IPs (the trunk's or proxy's) whose SIP requests are served; others get 403 (empty = any source)")
	fs.BoolVar(&o.allowSilent, "sip-allow-silent", false, "drop requests from sources outside --sip-allow without an answer, instead of 403")
	fs.StringVar(&o.auth, "sip-auth", "", "file of user:password lines: new INVITEs are challenged with digest authentication (401) and need one of them")
	fs.StringVar(&o.realm, "sip-realm", "botline", "realm of the digest challenges")
	fs.StringVar(&o.authAlgorithms, "sip-auth-algorithms", "MD5", "digest challenges offered, most preferred first: MD5, SHA-256 or both (SHA-256,MD5; some phones, baresip 1.0 among them, refuse any challenge that includes SHA-256)")
	fs.StringVar(&o.tlsListen, "sip-tls-listen", "", "host:port to serve SIP over TLS too (needs --sip-tls-cert and --sip-tls-key); its calls get a sips: Contact")
	fs.StringVar(&o.tlsCert, "sip-tls-cert", "", "PEM certificate (chain) of --sip-tls-listen")
	fs.StringVar(&o.tlsKey, "sip-tls-key", "", "PEM private key of --sip-tls-listen")
	fs.StringVar(&o.tlsClientCA, "sip-tls-client-ca", "", "mutual TLS: a PEM bundle of the CAs whose client certificates the SIP TLS listener requires (trunks in the Direct Routing style); botline's own TLS connections then present --sip-tls-cert and verify their peer against it")
	fs.StringVar(&o.tlsPeerName, "sip-tls-peer-name", "", "with --sip-tls-client-ca: the name (DNS or IP) a peer's certificate must carry (pins the trunk)")
	fs.BoolVar(&o.srtpPlainSignalling, "srtp-allow-plain-signalling", false, "allow --srtp required without --sip-tls-listen, though SDES keys then cross the network in clear")
	fs.StringVar(&o.srtp, "srtp", "optional", "media encryption (SDES a=crypto, RFC 4568): off (plain RTP; RTP/SAVP offers get 488), optional (SRTP when offered), required (plain offers get 488)")
	fs.StringVar(&o.transferAllow, "transfer-allow", "", "comma-separated numbers a bot may transfer calls to; a trailing * matches a prefix, * alone any (default: no transfers)")
	fs.IntVar(&o.maxCalls, "max-calls", 0, "calls set up or up at once; past it INVITEs get 503 with Retry-After (0 = bounded by --rtp-ports only)")
	fs.Float64Var(&o.inviteRate, "sip-invite-rate", 20, "new INVITEs per second from one source outside --sip-allow (bursts of twice that); past it 503 (0 = no limit)")
}

// apply sets cfg's security from the flags. sipListen is --sip-listen:
// a SIP listener on a non-loopback address needs an allow list or
// credentials.
func (o *sipOptions) apply(sipListen string, cfg *sip.Config) error {
	for _, s := range strings.Split(o.allow, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			ip, ipErr := netip.ParseAddr(s)
			if ipErr != nil {
				return fmt.Errorf("--sip-allow %q: want CIDRs or IPs (192.0.2.0/24, 198.51.100.7)", s)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		cfg.Allow = append(cfg.Allow, p.Masked())
	}
	if o.allowSilent && len(cfg.Allow) == 0 {
		return fmt.Errorf("--sip-allow-silent needs --sip-allow")
	}
	cfg.AllowSilent = o.allowSilent
	if o.auth != "" {
		a, err := sip.LoadDigestAuth(o.auth, o.realm)
		if err != nil {
			return fmt.Errorf("--sip-auth: %w", err)
		}
		if err := a.SetAlgorithms(strings.Split(o.authAlgorithms, ",")); err != nil {
			return fmt.Errorf("--sip-auth-algorithms: %w", err)
		}
		cfg.Auth = a
	}
	exposed := !loopback(sipListen) || o.tlsListen != "" && !loopback(o.tlsListen)
	if exposed && len(cfg.Allow) == 0 && cfg.Auth == nil {
		return fmt.Errorf("--sip-allow or --sip-auth is required when SIP listens on a non-loopback address (%s): anyone who reaches it could place calls", nonLoopback(sipListen, o.tlsListen))
	}
	if o.tlsListen != "" {
		if o.tlsCert == "" || o.tlsKey == "" {
			return fmt.Errorf("--sip-tls-listen needs --sip-tls-cert and --sip-tls-key")
		}
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return fmt.Errorf("--sip-tls-cert/--sip-tls-key: %w", err)
		}
		cfg.TLSListen = o.tlsListen
		cfg.TLSConfig = serverTLS(cert)
		if o.tlsClientCA != "" {
			if err := o.mutualTLS(cert, cfg); err != nil {
				return err
			}
		}
	}
	if o.tlsClientCA != "" && o.tlsListen == "" {
		return fmt.Errorf("--sip-tls-client-ca needs --sip-tls-listen")
	}
	if o.tlsPeerName != "" && o.tlsClientCA == "" {
		return fmt.Errorf("--sip-tls-peer-name needs --sip-tls-client-ca")
	}
	mode, err := sip.ParseSRTPMode(o.srtp)
	if err != nil {
		return err
	}
	if mode == sip.SRTPRequired && o.tlsListen == "" && !o.srtpPlainSignalling {
		return fmt.Errorf("--srtp required without --sip-tls-listen sends every call's SRTP keys (SDES, in the SDP) in clear over UDP/TCP: add --sip-tls-listen, or --srtp-allow-plain-signalling to accept that")
	}
	cfg.SRTP = mode
	for _, p := range strings.Split(o.transferAllow, ",") {
		if p = strings.TrimSpace(p); p != "" {
			cfg.TransferAllow = append(cfg.TransferAllow, p)
		}
	}
	if o.maxCalls < 0 || o.inviteRate < 0 {
		return fmt.Errorf("--max-calls and --sip-invite-rate must not be negative")
	}
	cfg.MaxCalls, cfg.InviteRate = o.maxCalls, o.inviteRate
	return nil
}

// nonLoopback names the first of addrs that is not a loopback address.
func nonLoopback(addrs ...string) string {
	for _, a := range addrs {
		if a != "" && !loopback(a) {
			return a
		}
	}
	return ""
}

// serverTLS is the TLS configuration of botline's listeners (SIP over TLS,
// HTTPS): TLS 1.2 or newer, and under 1.2 only AEAD suites with forward
// secrecy (1.3's are all AEAD): no CBC, no SHA-1 MACs, no RSA key
// exchange.
func serverTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, CipherSuites: []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}}
}

// mutualTLS makes the SIP TLS listener require a client certificate from
// --sip-tls-client-ca's CAs (carrying --sip-tls-peer-name when given), and
// botline's own TLS connections present cert and verify their peer the
// same way.
func (o *sipOptions) mutualTLS(cert tls.Certificate, cfg *sip.Config) error {
	pem, err := os.ReadFile(o.tlsClientCA)
	if err != nil {
		return fmt.Errorf("--sip-tls-client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("--sip-tls-client-ca %s: no PEM certificate in it", o.tlsClientCA)
	}
	name := o.tlsPeerName
	pin := func(cs tls.ConnectionState) error {
		if name == "" || len(cs.PeerCertificates) == 0 {
			return nil
		}
		if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
			return fmt.Errorf("peer certificate is not %s's: %w", name, err)
		}
		return nil
	}
	cfg.TLSConfig.ClientCAs, cfg.TLSConfig.ClientAuth, cfg.TLSConfig.VerifyConnection = pool, tls.RequireAndVerifyClientCert, pin
	cfg.TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12,
		CipherSuites: cfg.TLSConfig.CipherSuites, VerifyConnection: pin}
	return nil
}
