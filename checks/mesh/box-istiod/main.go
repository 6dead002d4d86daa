// Command box-istiod is the control plane of the mesh box: Istio's own discovery server, from the
// same Istio commit as the offline checks' istioctl, fed with what a cluster would hold after
// deploy.sh (the rendered manifests and mesh, the pods kube-inject makes, their Services and
// EndpointSlices). It either serves xDS to the box's pilot-agents over gRPC, as istiod does on its
// plaintext port, or writes every proxy's listeners, clusters, routes and endpoints as JSON.
//
//	box-istiod -kube KUBE.yaml -istio ISTIO.yaml -mesh MESH.yaml [-variant box|production] -serve ADDR
//	box-istiod -kube KUBE.yaml -istio ISTIO.yaml -mesh MESH.yaml [-variant box|production] -dump DIR
//
// The variant "box" turns off the four filters that only Istio's own Envoy build has (metadata
// exchange for TCP and HTTP, the stats filter, the ALPN filter), so upstream Envoy accepts the
// configuration; "production" generates exactly what istiod generates for the cluster.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/features"
	istiogrpc "istio.io/istio/pilot/pkg/grpc"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/mesh"
	istiokeepalive "istio.io/istio/pkg/keepalive"
	kubelib "istio.io/istio/pkg/kube"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
	"istio.io/istio/pkg/util/protomarshal"
)

func main() {
	kubeFile := flag.String("kube", "", "Kubernetes objects a cluster holds: Namespaces, Services, Pods, EndpointSlices")
	istioFile := flag.String("istio", "", "Istio configuration (networking.istio.io, security.istio.io)")
	meshFile := flag.String("mesh", "", "the mesh config istiod reads (data.mesh of ConfigMap istio)")
	variant := flag.String("variant", "box", "box (no Istio-only filters) or production")
	istioVersion := flag.String("istio-version", "", "the Istio version the proxies report (the deployed release)")
	serve := flag.String("serve", "", "serve xDS over plaintext gRPC on this address")
	dump := flag.String("dump", "", "write each proxy's configuration as JSON into this directory")
	flag.Parse()
	if *kubeFile == "" || *istioFile == "" || *meshFile == "" || (*serve == "") == (*dump == "") {
		fmt.Fprintln(os.Stderr, "usage: box-istiod -kube FILE -istio FILE -mesh FILE [-variant box|production] [-istio-version V] (-serve ADDR | -dump DIR)")
		os.Exit(2)
	}
	if err := run(*kubeFile, *istioFile, *meshFile, *variant, *istioVersion, *serve, *dump); err != nil {
		fmt.Fprintln(os.Stderr, "box-istiod:", err)
		os.Exit(1)
	}
}

func run(kubeFile, istioFile, meshFile, variant, istioVersion, serve, dump string) error {
	kubeObjects, err := os.ReadFile(kubeFile)
	if err != nil {
		return err
	}
	istioConfig, err := os.ReadFile(istioFile)
	if err != nil {
		return err
	}
	meshYAML, err := os.ReadFile(meshFile)
	if err != nil {
		return err
	}
	meshConfig, err := mesh.ApplyMeshConfigDefaults(string(meshYAML))
	if err != nil {
		return fmt.Errorf("mesh config %s: %w", meshFile, err)
	}
	switch variant {
	case "production":
	case "box":
		// The switches istiod documents for proxies without Istio's telemetry extensions.
		features.MetadataExchange = false
		features.ALPNFilter = false
		if meshConfig.DefaultProviders != nil {
			meshConfig.DefaultProviders.Metrics = nil
		}
	default:
		return fmt.Errorf("unknown variant %q: box or production", variant)
	}
	if serve != "" {
		return serveXDS(string(kubeObjects), string(istioConfig), meshConfig, serve)
	}
	return dumpXDS(string(kubeObjects), string(istioConfig), meshConfig, istioVersion, dump)
}

// quietLogs keeps warnings, and with adsInfo the connections, pushes and ACK/NACKs of every proxy,
// which the box's checks read.
func quietLogs(adsInfo bool) error {
	options := log.DefaultOptions()
	options.SetDefaultOutputLevel(log.OverrideScopeName, log.WarnLevel)
	if adsInfo {
		options.SetDefaultOutputLevel("ads", log.InfoLevel)
	}
	return log.Configure(options)
}

func serveXDS(kubeObjects, istioConfig string, meshConfig *meshconfig.MeshConfig, address string) error {
	if err := quietLogs(true); err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	return test.Wrap(func(t test.Failer) {
		server := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			KubernetesObjectString: kubeObjects,
			ConfigString:           istioConfig,
			MeshConfig:             meshConfig,
		})
		listener, err := net.Listen("tcp", address)
		if err != nil {
			t.Fatal(err)
		}
		// istiod's own gRPC server options: its keepalive policy admits pilot-agent's pings, which
		// a default gRPC server answers with GOAWAY "too_many_pings".
		grpcServer := grpc.NewServer(istiogrpc.ServerOptions(istiokeepalive.DefaultOption(), func(int64) {})...)
		server.Discovery.Register(grpcServer)
		go func() { _ = grpcServer.Serve(listener) }()
		defer grpcServer.Stop()
		fmt.Printf("box-istiod: serving xDS on %s (%d Istio configs)\n", listener.Addr(), countConfigs(server))
		<-stop
		fmt.Println("box-istiod: stopping")
	})
}

func countConfigs(server *xds.FakeDiscoveryServer) int {
	count := 0
	for _, schema := range server.Store().Schemas().All() {
		count += len(server.Store().List(schema.GroupVersionKind(), ""))
	}
	return count
}

// dumpXDS writes, for every pod with an Istio proxy, what istiod would push to it: DIR/NS/POD/
// listeners.json, clusters.json, routes.json, endpoints.json.
func dumpXDS(kubeObjects, istioConfig string, meshConfig *meshconfig.MeshConfig, istioVersion, dir string) error {
	if err := quietLogs(false); err != nil {
		return err
	}
	pods, err := proxiedPods(kubeObjects)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("no pod with an Istio proxy among the Kubernetes objects")
	}
	var failure error
	wrapped := test.Wrap(func(t test.Failer) {
		server := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
			KubernetesObjectString: kubeObjects,
			ConfigString:           istioConfig,
			MeshConfig:             meshConfig,
		})
		for _, pod := range pods {
			proxy := server.SetupProxy(proxyOf(pod, istioVersion))
			listeners := server.Listeners(proxy)
			out := filepath.Join(dir, pod.Namespace, pod.Name)
			resources := map[string][]proto.Message{
				"listeners": messages(listeners),
				"clusters":  messages(server.Clusters(proxy)),
				"routes":    messages(server.RoutesFromListeners(proxy, listeners)),
				"endpoints": messages(server.Endpoints(proxy)),
			}
			if err := writeResources(out, resources); err != nil {
				failure = err
				return
			}
			fmt.Printf("box-istiod: %s/%s (%s): %d listeners, %d clusters, %d routes, %d endpoints\n",
				pod.Namespace, pod.Name, proxy.Type, len(resources["listeners"]), len(resources["clusters"]),
				len(resources["routes"]), len(resources["endpoints"]))
		}
	})
	if wrapped != nil {
		return wrapped
	}
	return failure
}

func proxiedPods(kubeObjects string) ([]*corev1.Pod, error) {
	decode := kubelib.IstioCodec.UniversalDeserializer().Decode
	var pods []*corev1.Pod
	for _, document := range strings.Split(kubeObjects, "\n---\n") {
		if strings.TrimSpace(document) == "" {
			continue
		}
		object, _, err := decode([]byte(document), nil, nil)
		if err != nil {
			return nil, err
		}
		if pod, ok := object.(*corev1.Pod); ok && hasProxy(pod) {
			pods = append(pods, pod)
		}
	}
	sort.Slice(pods, func(i, j int) bool {
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	return pods, nil
}

// istioProxy is the pod's istio-proxy container (a native sidecar is an init container), or nil.
func istioProxy(pod *corev1.Pod) *corev1.Container {
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range containers {
			if containers[i].Name == "istio-proxy" {
				return &containers[i]
			}
		}
	}
	return nil
}

func hasProxy(pod *corev1.Pod) bool { return istioProxy(pod) != nil }

func isRouter(pod *corev1.Pod) bool {
	proxy := istioProxy(pod)
	return proxy != nil && slices.Contains(proxy.Args, "router")
}

// proxyOf describes the pod's proxy as pilot-agent announces it: node id, IP, namespace, labels,
// service account and the Istio version it runs.
func proxyOf(pod *corev1.Pod, istioVersion string) *model.Proxy {
	proxyType := model.SidecarProxy
	if isRouter(pod) {
		proxyType = model.Router
	}
	return &model.Proxy{
		Type:            proxyType,
		ID:              pod.Name + "." + pod.Namespace,
		IPAddresses:     []string{pod.Status.PodIP},
		ConfigNamespace: pod.Namespace,
		DNSDomain:       pod.Namespace + ".svc.cluster.local",
		Labels:          pod.Labels,
		Metadata: &model.NodeMetadata{
			Namespace:      pod.Namespace,
			Labels:         pod.Labels,
			ServiceAccount: fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", pod.Namespace, pod.Spec.ServiceAccountName),
			IstioVersion:   istioVersion,
			ClusterID:      "Kubernetes",
			WorkloadName:   pod.Labels["app"],
		},
	}
}

func messages[T proto.Message](items []T) []proto.Message {
	out := make([]proto.Message, 0, len(items))
	for _, item := range items {
		out = append(out, item)
	}
	return out
}

func writeResources(dir string, resources map[string][]proto.Message) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, items := range resources {
		parts := make([]string, 0, len(items))
		for _, item := range items {
			text, err := protomarshal.ToJSONWithIndent(item, "  ")
			if err != nil {
				return fmt.Errorf("%s of %s: %w", name, dir, err)
			}
			parts = append(parts, text)
		}
		body := "[\n" + strings.Join(parts, ",\n") + "\n]\n"
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
