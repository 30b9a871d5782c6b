package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/atod-project/atod/internal/testclient"
	"github.com/atod-project/atod/internal/timescale"
)

// nginxBinary is Debian's nginx as make setup unpacks it.
func nginxBinary(t *testing.T) string {
	t.Helper()
	tools := os.Getenv("ATOD_TOOLS")
	if tools == "" {
		tools = "/var/cache/atod/tools"
	}
	bin := filepath.Join(tools, "nginx", "usr", "sbin", "nginx")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no nginx at %s (the TLS reverse proxy's test needs it): run make setup", bin)
	}
	return bin
}

// throwawayCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns a pool that trusts it.
func throwawayCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "atod test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSReverseProxy: the repo's nginx site (systemd/nginx-atod.conf),
// with a throwaway certificate, serves atod over wss:// and https:// on
// loopback: a v0 run, a v1 run whose output streams before its Done, an
// HTTP run; and atod, trusting the proxy, takes its request id.
func TestTLSReverseProxy(t *testing.T) {
	nginx := nginxBinary(t)
	d := startDaemon(t, daemonOptions{args: []string{"--trusted-proxy", "127.0.0.1"}})
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // nginx's workers run as nobody
	certFile, keyFile, pool := throwawayCert(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nginx listens there; another process taking it meanwhile fails the test, not the host

	site, err := os.ReadFile(filepath.Join(binDir, "..", "systemd", "nginx-atod.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(site)
	for old, new := range map[string]string{
		"listen 443 ssl;":               "listen " + addr + " ssl;",
		"listen [::]:443 ssl;":          "",
		"/etc/ssl/atod/fullchain.pem":   certFile,
		"/etc/ssl/atod/privkey.pem":     keyFile,
		"server 127.0.0.1:8500;":        "server " + d.addr + ";",
		"server_name atod.example.org;": "server_name 127.0.0.1;",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("systemd/nginx-atod.conf has no %q to adapt", old)
		}
		conf = strings.ReplaceAll(conf, old, new)
	}
	os.WriteFile(filepath.Join(dir, "site.conf"), []byte(conf), 0o644)
	var temps strings.Builder
	for _, tmp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&temps, "%s_temp_path %s;\n", tmp, filepath.Join(dir, tmp))
	}
	main := fmt.Sprintf("worker_processes 1;\nerror_log stderr;\npid %s;\ndaemon off;\nevents {}\nhttp {\naccess_log off;\n%sinclude %s;\n}\n",
		filepath.Join(dir, "nginx.pid"), temps.String(), filepath.Join(dir, "site.conf"))
	os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644)
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	// A process group of its own: its workers go with it, even if the
	// master is killed (they outlive a master killed alone).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nginxLog := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(bufio.NewReader(stderr))
		nginxLog <- string(b)
	}()
	t.Cleanup(func() {
		// nginx's fast shutdown ends its workers, then the master; the
		// group's kill makes sure.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(timescale.D(10 * time.Second)):
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("nginx's log:\n%s", <-nginxLog)
		}
	})
	// The client connects from 127.0.0.2, nginx (and atod's peer) is
	// 127.0.0.1: the client's address in atod's log is the one nginx
	// forwarded.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DialContext: dialer.DialContext},
		Timeout: timescale.D(60 * time.Second)}
	for deadline := time.Now().Add(timescale.D(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get("https://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not answer on %s: %v", addr, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), timescale.D(60*time.Second))
	defer cancel()
	opts := &websocket.DialOptions{HTTPClient: client}
	conn, resp, err := websocket.Dial(ctx, "wss://"+addr+"/api/v0/ws/execute", opts)
	if err != nil {
		t.Fatalf("wss v0: %v", err)
	}
	// nginx's $request_id: 32 hex digits (atod's own are 16).
	if id := resp.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("X-Request-Id through the proxy: %q, want nginx's", id)
	}
	conn.SetReadLimit(testclient.ReadLimit)
	if err := conn.Write(ctx, websocket.MessageBinary, job{language: "bash", code: "echo over tls"}.encode(t)); err != nil {
		t.Fatal(err)
	}
	o, err := testclient.ReadV0(ctx, conn)
	if err != nil || o.Result == nil || string(o.Result.Stdout) != "over tls\n" || o.Code != websocket.StatusNormalClosure {
		t.Errorf("wss v0: %+v, %v", o, err)
	}

	v1, _, err := websocket.Dial(ctx, "wss://"+addr+"/api/v1/ws/execute", opts)
	if err != nil {
		t.Fatalf("wss v1: %v", err)
	}
	defer v1.CloseNow()
	v1.SetReadLimit(testclient.ReadLimit)
	if err := v1.Write(ctx, websocket.MessageBinary, job{language: "bash", code: "echo first; sleep 1; echo second"}.encode(t)); err != nil {
		t.Fatal(err)
	}
	var frames []testclient.Frame
	for {
		f, err := testclient.ReadV1(ctx, v1)
		if err != nil {
			t.Fatalf("wss v1: %v after %d messages", err, len(frames))
		}
		frames = append(frames, f)
		if f.Stream == "Done" {
			break
		}
	}
	if len(frames) < 3 || string(frames[0].Data) != "first\n" || frames[len(frames)-1].At.Sub(frames[0].At) < 500*time.Millisecond {
		t.Errorf("wss v1: the first output did not come before the run's end (proxy_buffering): %d messages", len(frames))
	}

	body := `{"language":"bash","code":"echo https","input":"","options":[],"arguments":[],"timeout":10}`
	hresp, err := client.Post("https://"+addr+"/api/v1/execute", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	if hresp.StatusCode != 200 || !strings.Contains(string(b), `"stdout":"https\n"`) {
		t.Errorf("https: %d %s", hresp.StatusCode, b)
	}
	// A request's log line is written after its answer has gone: the
	// last may come a moment after the client has it.
	forwarded := func() int { return strings.Count(d.logs(), `"client":"127.0.0.2"`) }
	for deadline := time.Now().Add(timescale.D(5 * time.Second)); forwarded() < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := forwarded(); n != 3 {
		t.Errorf("%d request lines with the client nginx forwarded, want 3:\n%s", n, d.logs())
	}
}
