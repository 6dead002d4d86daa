// Command cluster-analyze runs every analyzer of `istioctl analyze`, from the same Istio release,
// over YAML files that include the objects a cluster holds at run time (Pods, Services,
// Namespaces). `istioctl analyze --use-kube=false` drops those kinds when it reads files, and so
// skips the analyzers that need them: whether a Gateway's selector matches a gateway pod, whether
// a VirtualService's destination host exists, whether Service ports are named for their protocol,
// whether every pod of an injected namespace carries a proxy. This command keeps them.
//
// Usage: cluster-analyze -mesh MESH_CONFIG [-suppress CODE=KIND NAME.NAMESPACE]... FILE...
// Prints one line per message, exits 1 if any message is a warning or an error.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/diag"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/log"
)

type suppressions []string

func (s *suppressions) String() string     { return strings.Join(*s, ",") }
func (s *suppressions) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	meshConfig := flag.String("mesh", "", "mesh config file (the data.mesh of ConfigMap istio)")
	var suppress suppressions
	flag.Var(&suppress, "suppress", "CODE=KIND NAME.NAMESPACE, as istioctl analyze --suppress")
	flag.Parse()
	// The analyzers' informers log every sync at info level: keep stderr for real problems.
	logOptions := log.DefaultOptions()
	logOptions.SetDefaultOutputLevel(log.OverrideScopeName, log.WarnLevel)
	if err := log.Configure(logOptions); err != nil {
		fmt.Fprintln(os.Stderr, "cluster-analyze:", err)
		os.Exit(2)
	}
	if err := run(*meshConfig, suppress, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "cluster-analyze:", err)
		os.Exit(2)
	}
}

func run(meshConfig string, suppress []string, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("no file to analyze")
	}
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), "", resource.Namespace("istio-system"), nil)
	if meshConfig != "" {
		if err := sa.AddFileKubeMeshConfig(meshConfig); err != nil {
			return fmt.Errorf("mesh config %s: %w", meshConfig, err)
		}
	}
	var rules []local.AnalysisSuppression
	for _, s := range suppress {
		code, name, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("suppression %q is not CODE=KIND NAME.NAMESPACE", s)
		}
		rules = append(rules, local.AnalysisSuppression{Code: code, ResourceName: name})
	}
	sa.SetSuppressions(rules)
	var readers []local.ReaderSource
	for _, f := range files {
		in, err := os.Open(f)
		if err != nil {
			return err
		}
		defer in.Close()
		readers = append(readers, local.ReaderSource{Name: f, Reader: in})
	}
	// The analyzer library's reader that keeps Pods, Services, Namespaces and Secrets.
	if err := sa.AddTestReaderKubeSource(readers); err != nil {
		return err
	}
	cancel := make(chan struct{})
	result, err := sa.Analyze(cancel)
	if err != nil {
		return err
	}
	if len(result.SkippedAnalyzers) > 0 {
		fmt.Printf("skipped analyzers (their input kinds are absent): %s\n", strings.Join(result.SkippedAnalyzers, ", "))
	}
	failing := 0
	for _, m := range result.Messages.SortedDedupedCopy() {
		fmt.Println(m.String())
		if m.Type.Level().IsWorseThanOrEqualTo(diag.Warning) {
			failing++
		}
	}
	fmt.Printf("%d analyzers ran, %d warnings or errors\n", len(result.ExecutedAnalyzers), failing)
	if failing > 0 {
		os.Exit(1)
	}
	return nil
}
