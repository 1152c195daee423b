//go:build windows || plan9 || solaris || aix || android

package store

import "os"

// unlockFile does nothing where bbolt does not lock with flock; closing
// the file is all Open can do there.
func unlockFile(*os.File) {}
