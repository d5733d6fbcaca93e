-- Drives as records of their own (lib/drives/): one row per drive a device
-- drove, found by /sync from the rows it brings and closed by its drive_end,
-- the next drive's start, or DRIVE_IDLE_CLOSE_MINUTES without a reading; the
-- worker stores its summary once it is closed, and queues its analysis.
--
-- source_device compares exactly (a binary NO PAD collation, as issue 13
-- gives every identity column): MariaDB runs /*M!...*/ and ignores the
-- MySQL-only /*!80000...*/, MySQL 8 the reverse. Queries never join it to
-- the older tables' utf8mb4_unicode_ci device columns: drives link to
-- analyses and jobs by their BIGINT ids.

-- CreateTable
CREATE TABLE `drives` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_device` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `drive_id` BIGINT NOT NULL,
    `drive_start` DATETIME(6) NOT NULL,
    `drive_end` DATETIME(6) NULL,
    `closed_by` ENUM('drive_end', 'next_drive', 'idle') NULL,
    `closed_at` DATETIME(3) NULL,
    `last_reading_at` DATETIME(6) NULL,
    `last_row_at` DATETIME(3) NOT NULL,
    `last_batch_id` VARCHAR(64) NOT NULL,
    `version` INTEGER NOT NULL DEFAULT 0,
    `summary_due` INTEGER NOT NULL DEFAULT 2,
    `analysis_due` BOOLEAN NOT NULL DEFAULT false,
    `requeued` BOOLEAN NOT NULL DEFAULT false,
    `summarized_at` DATETIME(3) NULL,
    `data_source` VARCHAR(32) NULL,
    `readings` INTEGER NULL,
    `duration_s` DOUBLE NULL,
    `distance_km` DOUBLE NULL,
    `max_coolant_c` DOUBLE NULL,
    `start_coolant_c` DOUBLE NULL,
    `intake_p95_c` DOUBLE NULL,
    `min_running_v` DOUBLE NULL,
    `mean_running_v` DOUBLE NULL,
    `stft_mean` DOUBLE NULL,
    `ltft_mean` DOUBLE NULL,
    `idle_share` DOUBLE NULL,
    `idle_rpm` DOUBLE NULL,
    `warmup_s` DOUBLE NULL,
    `alert_count` INTEGER NULL,
    `dtc_codes` JSON NULL,
    `ambient_c` DOUBLE NULL,
    `starting_battery_v` DOUBLE NULL,
    `barometric_kpa` DOUBLE NULL,
    `stats` JSON NULL,
    `analysis_id` BIGINT NULL,

    INDEX `drives_source_device_drive_start_idx`(`source_device`, `drive_start`),
    INDEX `drives_closed_by_idx`(`closed_by`),
    INDEX `drives_summary_due_idx`(`summary_due`),
    INDEX `drives_analysis_due_idx`(`analysis_due`),
    UNIQUE INDEX `drives_source_device_drive_id_key`(`source_device`, `drive_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- AlterTable
ALTER TABLE `analysis_jobs` ADD COLUMN `drive_ref` BIGINT NULL;

-- CreateIndex
CREATE UNIQUE INDEX `analysis_jobs_drive_ref_key` ON `analysis_jobs`(`drive_ref`);
