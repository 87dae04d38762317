package broker

// DeleteGroups (key 42), versions 0–2.
//
// Deletes empty groups and their offsets (NON_EMPTY_GROUP while members remain).

func init() { register(42, 0, 2, groupAPI) }
