module pault.ag/go/debian

go 1.23.0

toolchain go1.24.4

require (
	github.com/kjk/lzma v0.0.0-20161016003348-3fd93898850d
	github.com/klauspost/compress v1.18.0
	github.com/xi2/xz v0.0.0-20171230120015-48954b6210f8
	golang.org/x/crypto v0.40.0
	pault.ag/go/topsort v0.1.1
)
