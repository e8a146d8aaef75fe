package recordingsapi

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/botline/botline/recorder"
)

// ForwardedBy marks a request one node passed to another (its value is
// the node id): it is answered there and never passed on again.
const ForwardedBy = "Botline-Forwarded-By"

// Peers are the other nodes of a cluster (--peer NODE_ID=URL). Every id a
// node issues starts with its node tag (recorder.NodeTag), so a request
// for a recording another node owns goes straight to that node.
type Peers struct {
	nodeID string
	byTag  map[string]*url.URL
	all    []*url.URL
	// downloads: forward downloads too (each node keeps its own files;
	// with --store every node serves every recording itself).
	downloads bool
	client    *http.Client
	log       *slog.Logger
}

// ParsePeers reads --peer values (NODE_ID=http(s)://host:port) for the
// node nodeID; nil when there are none. downloads forwards downloads and
// erasure too (nodes without a shared store each keep their own files).
// Two nodes whose tags collide cannot be told apart: that is an error.
func ParsePeers(list []string, nodeID string, downloads bool, log *slog.Logger) (*Peers, error) {
	if len(list) == 0 {
		return nil, nil
	}
	p := &Peers{nodeID: nodeID, byTag: map[string]*url.URL{}, downloads: downloads, log: log,
		client: &http.Client{Timeout: 10 * time.Second}}
	owner := map[string]string{recorder.NodeTag(nodeID): nodeID}
	for _, v := range list {
		id, raw, ok := strings.Cut(v, "=")
		u, err := url.Parse(raw)
		if !ok || id == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--peer %q: want NODE_ID=http(s)://host:port (the node's --node-id and --public-url)", v)
		}
		tag := recorder.NodeTag(id)
		if other, dup := owner[tag]; dup {
			return nil, fmt.Errorf("--peer %s: its ids would start with %q like %s's; give one of them another --node-id", id, tag, other)
		}
		owner[tag] = id
		p.byTag[tag] = u
		p.all = append(p.all, u)
	}
	return p, nil
}

// Wrap serves what this node owns with h, and passes on the rest:
// recording control (/calling/recordings/{id}...) and, without a shared
// store, downloads go to the node the id names; a start by serverCallId
// (a SIP Call-ID names no node) is tried here, then on each peer.
func (p *Peers) Wrap(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(ForwardedBy) != "" {
			h.ServeHTTP(w, r)
			return
		}
		if r.Method == http.MethodPost && r.URL.Path == "/calling/recordings" {
			p.startAnywhere(w, r, h)
			return
		}
		if peer := p.owner(r.URL.Path); peer != nil {
			p.proxy(peer).ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// owner is the peer that owns the recording a path names, nil for this
// node or a path that names none.
func (p *Peers) owner(path string) *url.URL {
	rest, ok := strings.CutPrefix(path, "/calling/recordings/")
	if !ok && p.downloads { // downloads and erasure: /recording/download/{id}..., /recording/{id}
		rest, ok = strings.CutPrefix(path, "/recording/")
		rest = strings.TrimPrefix(rest, "download/")
	}
	if !ok {
		return nil
	}
	id, _, _ := strings.Cut(rest, "/")
	id, _, _ = strings.Cut(id, ":")
	return p.byTag[recorder.IDTag(id)]
}

func (p *Peers) proxy(peer *url.URL) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(peer)
			pr.SetXForwarded()
			pr.Out.Header.Set(ForwardedBy, p.nodeID)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.log.Warn("peer unreachable", "peer", peer.String(), "path", r.URL.Path, "err", err)
			http.Error(w, `{"error":{"code":"NodeUnavailable","message":"the node that owns this recording does not answer"}}`, http.StatusBadGateway)
		},
	}
}

// startAnywhere starts a recording on the node that carries the call: this
// one if it does, else the first peer that does not answer 404.
func (p *Peers) startAnywhere(w http.ResponseWriter, r *http.Request, h http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if err != nil {
		http.Error(w, "reading the request", http.StatusBadRequest)
		return
	}
	local := httptest.NewRecorder()
	r.Body = io.NopCloser(bytes.NewReader(body))
	h.ServeHTTP(local, r)
	if local.Code == http.StatusNotFound {
		for _, peer := range p.all {
			res, err := p.forward(r, peer, body)
			if err != nil {
				p.log.Warn("peer unreachable", "peer", peer.String(), "err", err)
				continue
			}
			if res.StatusCode != http.StatusNotFound {
				defer res.Body.Close()
				copyHeader(w.Header(), res.Header)
				w.WriteHeader(res.StatusCode)
				io.Copy(w, res.Body)
				return
			}
			res.Body.Close()
		}
	}
	copyHeader(w.Header(), local.Header())
	w.WriteHeader(local.Code)
	w.Write(local.Body.Bytes())
}

func (p *Peers) forward(r *http.Request, peer *url.URL, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, peer.JoinPath(r.URL.Path).String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	req.Header.Set(ForwardedBy, p.nodeID)
	return p.client.Do(req)
}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = v
	}
}
