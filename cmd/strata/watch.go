package main

import (
	"crypto/sha256"
	"os"
	"time"
)

// Plugin file watching: plugins.NAME.watch: true reloads the plugin (as
// POST /v1/plugins/NAME/reload does) when its file changes.
//
// The watcher polls: every watchInterval it compares each watched file's
// size and modification time with what it saw last, and when they differ
// reads the file and compares its SHA-256 with the module it last
// considered, initially the serving one. Only new content reloads: a
// touched file, one rewritten with the same bytes, or the serving module
// put back after a refused one, does not. A reload
// that fails (a module half copied, say) is logged and counted like any
// plugin reload, the previous module serving on; the next change tries
// again. The set of watched plugins follows the running configuration.

// watchInterval is how often watched plugin files are polled.
const watchInterval = 500 * time.Millisecond

// watchedFile is what the watcher last saw of a plugin's file.
type watchedFile struct {
	path  string
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte // of the module last loaded or tried
}

// watchPlugins polls the watched plugins' files until stop is closed.
// Only its goroutine touches its state.
func (r *reloader) watchPlugins(stop <-chan struct{}, every time.Duration) {
	files := map[string]*watchedFile{} // by plugin name
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r.pollPlugins(files)
	}
}

// pollPlugins checks each watched plugin once and reloads those whose
// file has new content.
func (r *reloader) pollPlugins(files map[string]*watchedFile) {
	cfg := r.cfg.Load()
	watched := map[string]bool{}
	for _, pc := range cfg.Plugins {
		if !pc.Watch {
			continue
		}
		watched[pc.Name] = true
		path := cfg.Resolve(pc.File)
		w := files[pc.Name]
		if w == nil || w.path != path {
			// Start from the module serving now, so that a change made
			// since it was loaded is seen at once.
			w = &watchedFile{path: path}
			if p := r.current().Plugin(pc.Name); p != nil {
				w.sum = p.ModuleSum()
			}
			files[pc.Name] = w
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Size() == w.size && fi.ModTime().Equal(w.mtime) {
			continue // a missing file is a deployment in progress: wait
		}
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if again, err := os.Stat(path); err != nil || again.Size() != fi.Size() || !again.ModTime().Equal(fi.ModTime()) {
			continue // still being written: next time
		}
		w.size, w.mtime = fi.Size(), fi.ModTime()
		sum := sha256.Sum256(b)
		if sum == w.sum {
			continue
		}
		w.sum = sum
		if p := r.current().Plugin(pc.Name); p != nil && p.ModuleSum() == sum {
			continue // back to the module serving (after a refused one)
		}
		r.log.Info("plugin file changed: reloading", "plugin", pc.Name, "file", path)
		r.reloadPlugin(pc.Name) // logged and counted there
	}
	for name := range files {
		if !watched[name] {
			delete(files, name)
		}
	}
}
