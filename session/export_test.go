package session

// What the external tests of this package (package session_test) reach.

// FileOps is a snapshot of what the process's token files cost so far.
// Watched counts the reads, among Reads, that a Wait made.
type FileOps struct{ Reads, Watched, Locked, Writes, Syncs int64 }

// TakeFileOps returns fileOps.
func TakeFileOps() FileOps {
	return FileOps{fileOps.reads.Load(), fileOps.watched.Load(), fileOps.locked.Load(), fileOps.writes.Load(), fileOps.syncs.Load()}
}

// Minus returns a - b.
func (a FileOps) Minus(b FileOps) FileOps {
	return FileOps{a.Reads - b.Reads, a.Watched - b.Watched, a.Locked - b.Locked, a.Writes - b.Writes, a.Syncs - b.Syncs}
}

// SetWaiting makes c call f each time its Wait (lease true) or
// WaitGeneration (false) is about to block.
func SetWaiting(c *FileCoordinator, f func(lease bool)) { c.waiting = f }
