-- Undoes 002 when the deploy that applied it rolls back before its switch (no release has used the column yet).
DROP INDEX IF EXISTS notes_author;
ALTER TABLE notes DROP COLUMN IF EXISTS author;
