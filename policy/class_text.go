package policy

import "fmt"

// MarshalText implements encoding.TextMarshaler: the class's name.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that a record
// holding a Class decodes from the JSON it encodes to.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	if err == nil {
		*c = v
	}
	return err
}

// ParseClass returns the class named name ("ok", "transient", …).
func ParseClass(name string) (Class, error) {
	for i, n := range classNames {
		if n == name {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("policy: unknown class %q", name)
}
