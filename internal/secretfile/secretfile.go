// Package secretfile writes a new file that holds a secret (a key, an
// identity): mode 0600, never over an existing file, synced, and removed
// again if any step fails. It imports nothing but the standard library.
package secretfile

import "os"

// Create writes data to a new file at path. It fails with an error that
// satisfies errors.Is(err, os.ErrExist) when the file exists.
func Create(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}
