package scenariokeys

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// nodeKind is the kind of a decoded JSON value.
type nodeKind uint8

const (
	scalarNode nodeKind = iota
	objectNode
	arrayNode
)

// node is a JSON value that keeps the order of an object's keys, the
// order the reference lists them in.
type node struct {
	kind   nodeKind
	ptr    string
	keys   []string
	fields map[string]*node
	items  []*node
	scalar any // string, json.Number, bool or nil
}

func decode(dec *json.Decoder, ptr string, depth int) (*node, error) {
	if depth > 64 {
		return nil, &Error{Pointer: ptr, Reason: "nested too deep"}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, &Error{Pointer: ptr, Reason: "not JSON: " + err.Error()}
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return &node{kind: scalarNode, ptr: ptr, scalar: tok}, nil
	}
	switch d {
	case '{':
		n := &node{kind: objectNode, ptr: ptr, fields: map[string]*node{}}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, &Error{Pointer: ptr, Reason: "not JSON: " + err.Error()}
			}
			k, _ := kt.(string) // a json.Decoder gives object keys as strings
			if _, dup := n.fields[k]; dup {
				return nil, &Error{Pointer: ptr, Reason: fmt.Sprintf("key %q given twice", k)}
			}
			v, err := decode(dec, ptr+"/"+k, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.fields[k] = v
		}
		_, err := dec.Token()
		if err != nil {
			return nil, &Error{Pointer: ptr, Reason: "not JSON: " + err.Error()}
		}
		return n, nil
	case '[':
		n := &node{kind: arrayNode, ptr: ptr}
		for i := 0; dec.More(); i++ {
			v, err := decode(dec, ptr+"/"+strconv.Itoa(i), depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		_, err := dec.Token()
		if err != nil {
			return nil, &Error{Pointer: ptr, Reason: "not JSON: " + err.Error()}
		}
		return n, nil
	}
	return nil, &Error{Pointer: ptr, Reason: fmt.Sprintf("unexpected %v", d)}
}

// field returns the member k of an object node, or nil.
func (n *node) field(k string) *node {
	if n == nil || n.kind != objectNode {
		return nil
	}
	return n.fields[k]
}

// list returns the items of an array node, or nil.
func (n *node) list() []*node {
	if n == nil {
		return nil
	}
	return n.items
}

// str returns the string a node holds, or "".
func (n *node) str() string {
	if n == nil {
		return ""
	}
	s, _ := n.scalar.(string)
	return s
}
