package sim

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestMarshalRoundTrip writes every library scenario as YAML and parses it
// back: the scenario must be the same, so that a file written by fuzz
// reproduces exactly the run it describes.
func TestMarshalRoundTrip(t *testing.T) {
	for _, file := range scenarioFiles(t) {
		sc, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(file, MarshalYAML(sc))
		if err != nil {
			t.Fatalf("%s: written scenario does not parse: %v\n%s", file, err, MarshalYAML(sc))
		}
		ignore := cmpopts.IgnoreFields(Fault{}, "Line")
		if diff := cmp.Diff(sc, back, ignore, cmpopts.IgnoreFields(Work{}, "Line"), cmpopts.IgnoreFields(Scenario{}, "Description")); diff != "" {
			t.Errorf("%s: round trip changed the scenario (-file +written):\n%s", file, diff)
		}
	}
}
