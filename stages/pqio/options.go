package pqio

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Defaults for the writers (WriteFile and the Write sink).
const (
	// DefaultRowGroupRows caps the rows in one row group. A row group is the
	// unit of work of Read, so this also bounds the work of one element after
	// its Reshuffle; 10k rows of a 28x28 image are about 8 MB.
	DefaultRowGroupRows = 10_000
	// DefaultRowGroupBytes caps the (uncompressed, estimated) bytes buffered
	// for one row group. The writer holds a whole row group in memory, so this
	// bounds writer memory for wide rows such as checkpoint tensors.
	DefaultRowGroupBytes = 64 << 20
)

// Option configures WriteFile and Write. Invalid values make WriteFile return
// an error and Write panic while the pipeline is built.
type Option func(*config)

type config struct {
	after         beam.PCollection // Write only: commit once it holds afterCount elements
	afterCount    int
	expectRows    int64 // Write only: commit only if the shards hold this many rows
	rowGroupRows  int64
	rowGroupBytes int64
	metadata      map[string]string
	err           error
}

// RowGroupRows sets the maximum number of rows per row group (n > 0).
// Default: DefaultRowGroupRows.
func RowGroupRows(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("RowGroupRows(%d): must be > 0", n))
		}
		c.rowGroupRows = n
	}
}

// RowGroupBytes sets the estimated uncompressed size at which a row group is
// closed (n > 0). A single row larger than n still makes one row group.
// Default: DefaultRowGroupBytes.
func RowGroupBytes(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("RowGroupBytes(%d): must be > 0", n))
		}
		c.rowGroupBytes = n
	}
}

// Metadata adds a key-value pair to the file's Parquet metadata; repeat it for
// more pairs. The key SchemaKey is reserved. Default: only SchemaKey is set.
func Metadata(key, value string) Option {
	return func(c *config) {
		if key == "" || key == SchemaKey || key == FileIDKey {
			c.err = errors.Join(c.err, fmt.Errorf("Metadata(%q): key is empty or reserved", key))
			return
		}
		if c.metadata == nil {
			c.metadata = map[string]string{}
		}
		c.metadata[key] = value
	}
}

// After makes Write commit its shards only once done, a PCollection<string>
// with one element per unit of upstream work, holds all n of them; with
// fewer the commit fails. A stage with several outputs uses it so that a
// failure in one unit of work leaves none of its outputs committed.
// WriteFile ignores it.
func After(done beam.PCollection, n int) Option {
	return func(c *config) {
		if !done.IsValid() || done.Type().Type() != reflect.TypeFor[string]() || n <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("After: want a valid PCollection<string> and n > 0, got n = %d", n))
			return
		}
		c.after, c.afterCount = done, n
	}
}

// ExpectRows makes Write commit its shards only if together they hold
// exactly n rows (n > 0): when the writer knows how many rows a complete
// run produces, a job that failed half-way (on prism, downstream stages may
// still run after a failed bundle) cannot replace a complete shard set with
// a partial one. WriteFile ignores it.
func ExpectRows(n int64) Option {
	return func(c *config) {
		if n <= 0 {
			c.err = errors.Join(c.err, fmt.Errorf("ExpectRows(%d): must be > 0", n))
		}
		c.expectRows = n
	}
}

func newConfig(opts []Option) (config, error) {
	c := config{rowGroupRows: DefaultRowGroupRows, rowGroupBytes: DefaultRowGroupBytes}
	for _, o := range opts {
		o(&c)
	}
	if c.err != nil {
		return c, fmt.Errorf("pqio: invalid option: %w", c.err)
	}
	return c, nil
}
