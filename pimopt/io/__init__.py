"""Files in and out: reading and writing with clear errors and size limits
(:mod:`.files`) and the JSON Schemas of every file format (:mod:`.schemas`)."""
