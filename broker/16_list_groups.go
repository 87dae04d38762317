package broker

// ListGroups (key 16), versions 0–4.
//
// Every group this broker coordinates; v4 filters by state.

func init() { register(16, 0, 4, groupAPI) }
