-- Registry names in two languages: cameras and sensors keep their name in the municipality's
-- language (`name`) and get an English one beside it (empty: none), as key sites have.
ALTER TABLE cameras ADD COLUMN name_en TEXT NOT NULL DEFAULT '';
ALTER TABLE sensors ADD COLUMN name_en TEXT NOT NULL DEFAULT '';
