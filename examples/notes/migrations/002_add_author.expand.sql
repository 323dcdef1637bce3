-- Notes get an author. Nullable, so the release before this one (which never sets it) keeps working.
ALTER TABLE notes ADD COLUMN author text;
CREATE INDEX notes_author ON notes (author);
