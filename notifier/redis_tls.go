package notifier

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// RedisTLS is how rediss:// connections check the server and show
// themselves: a private CA (a managed Redis with its own certificate), a
// client certificate (Redis with tls-auth-clients), a server name other than
// the address's (connecting by IP to a certificate for a name).
type RedisTLS struct {
	CAFile     string // PEM roots instead of the system's
	CertFile   string // client certificate, with KeyFile
	KeyFile    string
	ServerName string
	// InsecureSkipVerify accepts any server certificate: for development
	// against a self-signed Redis only; the node warns at start.
	InsecureSkipVerify bool
}

func (t RedisTLS) set() bool { return t != RedisTLS{} }

// config builds the tls.Config; nil when nothing is set (the defaults).
// Errors name the flag to fix.
func (t RedisTLS) config() (*tls.Config, error) {
	if !t.set() {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-tls-ca-file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--redis-tls-ca-file %s: no PEM certificate in it", t.CAFile)
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("--redis-tls-cert-file and --redis-tls-key-file go together")
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--redis-tls-cert-file, --redis-tls-key-file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
