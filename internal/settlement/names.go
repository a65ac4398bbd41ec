package settlement

import "bytes"

// nameCounts counts rows by a text value (a record type, a merchant account) in memory that does not
// grow with the file: the fixed names and the limit alphabetically smallest other names are listed
// with their counts; the rows of every other name, and of names longer than maxLen, are counted together
// as other. Choosing the listed names by their order rather than by when they appear makes the result
// the same however the file is cut into chunks: a name left out of a chunk's list has limit smaller
// names in that chunk alone, so it is left out of the merged list too, and no count is split.
type nameCounts struct {
	counts  map[string]*int64
	fixed   map[string]bool // always listed
	limit   int             // names listed besides the fixed ones
	maxLen  int             // longer names are other; 0: no limit
	reserve string          // a name that is never listed (the key of the other rows)
	n       int             // listed names that are not fixed
	largest string          // the largest of those, the first to give way to a smaller one
	other   int64           // rows of the names not listed
	dropped bool            // some name is not listed
	// The last name counted: a file's rows mostly repeat their type and merchant.
	last  []byte
	lastN *int64
}

func newNameCounts(limit, maxLen int, fixed map[string]bool, reserve string) nameCounts {
	return nameCounts{counts: map[string]*int64{}, limit: limit, maxLen: maxLen, fixed: fixed, reserve: reserve}
}

// inc counts one row of name.
func (c *nameCounts) inc(name []byte) {
	if c.lastN != nil && bytes.Equal(name, c.last) {
		*c.lastN++
		return
	}
	if p, ok := c.counts[string(name)]; ok {
		*p++
		c.last, c.lastN = append(c.last[:0], name...), p
		return
	}
	c.add(string(name), 1)
}

// add counts n rows of name.
func (c *nameCounts) add(name string, n int64) {
	if p, ok := c.counts[name]; ok {
		*p += n
		return
	}
	if !c.fixed[name] {
		if (c.maxLen > 0 && len(name) > c.maxLen) || (name == c.reserve && name != "") || (c.n == c.limit && name > c.largest) {
			c.other += n
			c.dropped = true
			return
		}
		if c.n == c.limit { // name takes the place of the largest listed name
			c.other += *c.counts[c.largest]
			c.dropped = true
			delete(c.counts, c.largest)
			c.lastN = nil
			c.n--
			c.largest = name
			for k := range c.counts {
				if !c.fixed[k] && k > c.largest {
					c.largest = k
				}
			}
		} else if c.n == 0 || name > c.largest {
			c.largest = name
		}
		c.n++
	}
	v := n
	c.counts[name] = &v
}

// merge adds the counts of o.
func (c *nameCounts) merge(o *nameCounts) {
	for k, n := range o.counts {
		c.add(k, *n)
	}
	c.other += o.other
	c.dropped = c.dropped || o.dropped
}

// OtherTypes is the key under which a report's types count the rows whose record type is not listed:
// beyond MaxListedTypes unknown types, or longer than MaxTypeBytes.
const OtherTypes = "(other types)"

// MaxListedTypes bounds the unknown record types a report lists by name (the known types are always
// listed); MaxTypeBytes bounds the length of a listed type. Adyen adds a type now and then, not a hundred.
const (
	MaxListedTypes = 100
	MaxTypeBytes   = 64
)

// MaxListedMerchants bounds the merchant accounts a validator tells apart: a file must have one, and
// past this many the report says "more than".
const MaxListedMerchants = 100
