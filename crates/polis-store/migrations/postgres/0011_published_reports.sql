-- What the portal shows of an item as it was when published: a plan's report (HTML), since
-- planning jobs are not kept. Empty for items shown live (sensors, webcams) and withdrawals.
ALTER TABLE publications ADD COLUMN snapshot TEXT;
