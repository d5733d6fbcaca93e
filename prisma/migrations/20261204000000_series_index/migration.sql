-- realtime_data gets one time-first covering index in place of two:
-- (source_device, timestamp) for windows of all parameters (drive statistics,
-- CSV) and (source_device, parameter_name, timestamp, value) for the
-- dashboard's series. Every index costs each insert of the sync's hot path,
-- and the second one cut bench:sync from 76,000 to about 50,000 rows/s. The
-- series now read all their parameters in one range scan of a window
-- (lib/readings/series.ts), which this index answers alone; a window of all
-- parameters reads it as it read (source_device, timestamp).
-- The new index is built before the old ones go, so no window read is ever
-- without one.

-- CreateIndex
CREATE INDEX `realtime_data_source_device_timestamp_parameter_name_value_idx` ON `realtime_data`(`source_device`, `timestamp`, `parameter_name`, `value`);

-- DropIndex
DROP INDEX `realtime_data_source_device_parameter_name_timestamp_value_idx` ON `realtime_data`;

-- DropIndex
DROP INDEX `realtime_data_source_device_timestamp_idx` ON `realtime_data`;
