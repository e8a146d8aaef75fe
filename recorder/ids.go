package recorder

// ValidDocumentID reports whether id has the shape botline issues (26
// lower-case base32 characters); anything else, ".." and "/" included, is
// refused before the file system is touched.
func ValidDocumentID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}
