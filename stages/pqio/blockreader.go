package pqio

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Block cache for ranged reads of remote objects. parquet-go reads a file in
// small pieces (the footer, then 4 KiB buffered reads per column chunk); one
// ranged request per piece would be slow, so reads smaller than a block are
// served from whole blocks fetched once and kept in a small LRU.
const (
	remoteBlockSize = 1 << 20 // bytes per ranged request
	remoteMaxBlocks = 16      // cached blocks per open file (16 MiB)
)

// rangeFunc opens the byte range [off, off+n) of one object.
type rangeFunc func(off, n int64) (io.ReadCloser, error)

// blockReaderAt implements io.ReaderAt over ranged reads. It is safe for
// concurrent use.
type blockReaderAt struct {
	size      int64
	open      rangeFunc
	blockSize int64
	maxBlocks int

	mu     sync.Mutex
	blocks map[int64][]byte // block index -> contents
	lru    []int64          // block indices, least recently used first
}

func newBlockReaderAt(size int64, open rangeFunc) *blockReaderAt {
	return &blockReaderAt{size: size, open: open, blockSize: remoteBlockSize, maxBlocks: remoteMaxBlocks, blocks: map[int64][]byte{}}
}

// ReadAt implements io.ReaderAt.
func (r *blockReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("ReadAt: negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	want, eof := p, error(nil)
	if rest := r.size - off; int64(len(p)) > rest {
		want, eof = p[:rest], io.EOF
	}
	if int64(len(want)) >= r.blockSize { // large reads bypass the cache
		n, err := r.fetch(off, want)
		if err != nil {
			return n, err
		}
		return n, eof
	}
	n := 0
	for n < len(want) {
		pos := off + int64(n)
		b, err := r.block(pos / r.blockSize)
		if err != nil {
			return n, err
		}
		n += copy(want[n:], b[pos%r.blockSize:])
	}
	return n, eof
}

// fetch reads exactly len(p) bytes at off with one ranged request.
func (r *blockReaderAt) fetch(off int64, p []byte) (int, error) {
	rc, err := r.open(off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, errors.Join(err, rc.Close())
}

// block returns block i, fetching it on a miss.
func (r *blockReaderAt) block(i int64) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.blocks[i]; ok {
		r.touch(i)
		return b, nil
	}
	start := i * r.blockSize
	b := make([]byte, min(r.blockSize, r.size-start))
	if _, err := r.fetch(start, b); err != nil {
		return nil, err
	}
	if len(r.lru) >= r.maxBlocks {
		delete(r.blocks, r.lru[0])
		r.lru = r.lru[1:]
	}
	r.blocks[i] = b
	r.lru = append(r.lru, i)
	return b, nil
}

// touch marks block i as most recently used.
func (r *blockReaderAt) touch(i int64) {
	for k, v := range r.lru {
		if v == i {
			r.lru = append(append(r.lru[:k:k], r.lru[k+1:]...), i)
			return
		}
	}
}
