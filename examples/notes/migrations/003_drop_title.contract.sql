-- This release no longer reads or writes title. Dropping it waits until no older release (which wrote it) is live.
ALTER TABLE notes DROP COLUMN title;
