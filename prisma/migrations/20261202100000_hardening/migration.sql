-- Identity text compares exactly. Until now every text column used the tables'
-- utf8mb4_unicode_ci, which folds case, accents and trailing spaces: two Pi
-- keys "dupcase" and "DUPCASE" met in one unique-index entry (one Pi row
-- silently overwrote the other), and a device key was accepted under every
-- case variant of its device id. The columns that identify something (device
-- ids, batch ids, the Pi's text keys and the profile ids that refer to them)
-- now use a binary NO PAD collation, so they are equal only when their bytes
-- are. The name differs between the two servers, so each one reads its own
-- from an executable comment: MariaDB runs /*M!...*/ and ignores /*!80000...*/
-- (a MySQL-only version), MySQL 8 does the reverse. (utf8mb4_bin would not
-- do: on both servers it is PAD SPACE, so "padkey" and "padkey " still met.)
-- Tightening a unique index cannot fail on existing rows: values distinct
-- under the old collation are distinct under this one.

-- AlterTable
ALTER TABLE `realtime_data`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NULL;

-- AlterTable
ALTER TABLE `statistics`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable
ALTER TABLE `profiles`
    MODIFY `source_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable
ALTER TABLE `vehicle_info`
    MODIFY `source_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable
ALTER TABLE `ai_recommendations`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NULL;

-- AlterTable
ALTER TABLE `connection_log`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable
ALTER TABLE `alert_log`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NULL;

-- AlterTable
ALTER TABLE `calibration_sessions`
    MODIFY `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NULL;

-- AlterTable
ALTER TABLE `sync_history`
    MODIFY `batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable
ALTER TABLE `analysis_history`
    MODIFY `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `profile_source_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NULL;

-- AlterTable
ALTER TABLE `analysis_jobs`
    MODIFY `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL;

-- AlterTable: the Pi's drive counter is a 64-bit SQLite integer; INT overflowed at 2^31.
ALTER TABLE `devices`
    MODIFY `device_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    MODIFY `last_drive_id` BIGINT NULL;
