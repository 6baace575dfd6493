package collector

import "sync"

// syncMap is a string-keyed set of answers that looks keys up from bytes
// without allocating; it stops growing at maxCached keys.
type syncMap struct {
	mu sync.RWMutex
	m  map[string]bool
}

const maxCached = 10000

func (c *syncMap) load(k []byte) (v, found bool) {
	c.mu.RLock()
	v, found = c.m[string(k)]
	c.mu.RUnlock()
	return v, found
}

func (c *syncMap) store(k string, v bool) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]bool{}
	}
	if len(c.m) < maxCached {
		c.m[k] = v
	}
	c.mu.Unlock()
}
