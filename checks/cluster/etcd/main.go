// Command etcd runs a single etcd member for the control plane of checks/cluster/run.sh: etcd's own
// server (go.etcd.io/etcd/server/v3, the version kubeadm deploys for Kubernetes 1.36) started
// through its embed package, serving clients over TLS with client certificates required.
package main

import (
	"flag"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/version"
	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	dataDir := flag.String("data-dir", "", "directory for the member's data (required)")
	clientURL := flag.String("client-url", "", "https:// URL where clients connect (required)")
	peerURL := flag.String("peer-url", "", "http:// URL of the member's peer listener (required)")
	certFile := flag.String("cert-file", "", "server certificate (PEM)")
	keyFile := flag.String("key-file", "", "server private key (PEM)")
	caFile := flag.String("trusted-ca-file", "", "CA that signed the client certificates (PEM)")
	flag.Parse()
	if *dataDir == "" || *clientURL == "" || *peerURL == "" || *certFile == "" || *keyFile == "" || *caFile == "" {
		flag.Usage()
		os.Exit(2)
	}

	cfg := embed.NewConfig()
	cfg.Name = "paymesh"
	cfg.Dir = *dataDir
	cfg.LogLevel = "warn"
	clients := []url.URL{mustParse(*clientURL)}
	peers := []url.URL{mustParse(*peerURL)}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = clients, clients
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = peers, peers
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ClientTLSInfo.CertFile = *certFile
	cfg.ClientTLSInfo.KeyFile = *keyFile
	cfg.ClientTLSInfo.TrustedCAFile = *caFile
	cfg.ClientTLSInfo.ClientCertAuth = true

	server, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd did not start: %v", err)
	}
	defer server.Close()
	select {
	case <-server.Server.ReadyNotify():
		log.Printf("etcd %s ready, serving clients at %s", version.Version, *clientURL)
	case <-time.After(time.Minute):
		server.Server.Stop()
		log.Fatal("etcd was not ready within a minute")
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-stop:
		log.Printf("etcd stopping on %s", sig)
	case err := <-server.Err():
		log.Fatalf("etcd failed: %v", err)
	}
}

func mustParse(raw string) url.URL {
	parsed, err := url.Parse(raw)
	if err != nil {
		log.Fatalf("not a URL: %q: %v", raw, err)
	}
	return *parsed
}
