package config

import (
	"strings"
)

// suggest returns the candidate closest to word, or "" when none is close
// enough to be what the operator meant. A candidate that differs only by
// case or by '-' for '_' (HAProxy's keywords use '-') always matches.
func suggest(word string, candidates []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	w := norm(word)
	for _, c := range candidates {
		if norm(c) == w {
			return c
		}
	}
	best, bestDist := "", 0
	limit := max(1, len(w)/3)
	for _, c := range candidates {
		d := editDistance(w, norm(c), limit)
		if d <= limit && (best == "" || d < bestDist) {
			best, bestDist = c, d
		}
	}
	if best == "" {
		// "defaultbackend", "httprequest": the candidate without its
		// separators.
		for _, c := range candidates {
			if strings.ReplaceAll(norm(c), "_", "") == strings.ReplaceAll(w, "_", "") {
				return c
			}
		}
	}
	return best
}

// editDistance returns the edit distance of a and b, counting a swap of
// two neighbours as one edit (optimal string alignment), or limit+1 as
// soon as it is known to exceed limit.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 {
		if a == b {
			return 0
		}
		return limit + 1
	}
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// didYouMean returns the fix for an unknown word: a suggestion when one is
// close, else the list of valid words.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return "did you mean " + quote(s) + "?"
	}
	return "use one of: " + strings.Join(candidates, ", ")
}
