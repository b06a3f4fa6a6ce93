// Command simkeys writes the service-account signing key pair of the
// simulated cluster (sa.key, sa.pub) into a folder, so hack/sim.sh needs
// no openssl.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: simkeys DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simkeys:", err)
		os.Exit(1)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		fmt.Fprintln(os.Stderr, "simkeys:", err)
		os.Exit(1)
	}
	files := map[string]*pem.Block{
		"sa.key": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
		"sa.pub": {Type: "PUBLIC KEY", Bytes: pub},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "simkeys:", err)
			os.Exit(1)
		}
	}
}
