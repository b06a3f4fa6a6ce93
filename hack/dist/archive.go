package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"io"
	"io/fs"
	"sort"
	"time"
)

// entry is one file of an archive, at its root.
type entry struct {
	name string
	mode fs.FileMode
	data []byte
}

// sorted returns the entries by name, the order both archive formats
// write them in, so the bytes depend on the content only.
func sorted(entries []entry) []entry {
	out := append([]entry(nil), entries...)
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// writeTarGz writes a gzip-compressed ustar archive with root-owned
// entries, fixed times and no gzip name or time: the same inputs always
// give the same bytes.
func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	gz := gzip.NewWriter(w) // header ModTime stays zero, Name empty
	tw := tar.NewWriter(gz)
	for _, e := range sorted(entries) {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     e.name,
			Mode:     int64(e.mode.Perm()),
			Size:     int64(len(e.data)),
			ModTime:  mtime,
			Format:   tar.FormatUSTAR,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// writeZip writes a deflated zip whose entries carry unix modes (unzip
// keeps the executable bits) and fixed times in UTC.
func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range sorted(entries) {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime.UTC()}
		hdr.SetMode(e.mode.Perm())
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
}
