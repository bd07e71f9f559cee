"""The released revisions of the schema, each never edited once released."""
