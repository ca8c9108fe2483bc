package yamlwalk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// ReadFile reads the file at path, no more than limit bytes and one byte
// beyond whatever its size (Document refuses what is over), or returns
// why it cannot.
func ReadFile(path string, limit int) ([]byte, *Problem) {
	f, err := os.Open(path)
	if err != nil {
		return nil, cannotRead(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, cannotRead(err)
	}
	return data, nil
}

func cannotRead(err error) *Problem {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &Problem{Msg: "cannot read: " + err.Error(), Kind: ErrInvalid}
}

// Document returns the root of data, a file of one YAML document of the
// kind what names ("scenario"), or nil when the file is empty. A file
// larger than limit bytes, or holding a second document (even an empty
// one after "---"), is a problem: the second is not ignored.
func Document(data []byte, limit int, what string) (*yaml.Node, *Problem) {
	if len(data) > limit {
		return nil, &Problem{Msg: fmt.Sprintf("larger than %d MiB: not a %s file", limit>>20, what), Kind: ErrInvalid}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, SyntaxProblem(err)
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case err == nil:
		return nil, &Problem{Line: second.Line, Msg: "a second YAML document: a " + what + " file holds one", Kind: ErrInvalid}
	case err != io.EOF:
		p := SyntaxProblem(err)
		p.Msg = "a second YAML document, and not valid YAML: " + p.Msg
		return nil, p
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}
