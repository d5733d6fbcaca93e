-- AlterTable
ALTER TABLE `analysis_history` ADD COLUMN `completed_at` DATETIME(3) NULL,
    ADD COLUMN `error_message` TEXT NULL,
    ADD COLUMN `result` JSON NULL,
    ADD COLUMN `triggered_by` ENUM('api', 'auto') NOT NULL DEFAULT 'api';

-- CreateTable
CREATE TABLE `analysis_jobs` (
    `job_id` BIGINT NOT NULL AUTO_INCREMENT,
    `device_id` VARCHAR(64) NOT NULL,
    `drive_start` DATETIME(6) NOT NULL,
    `drive_end` DATETIME(6) NOT NULL,
    `batch_id` VARCHAR(64) NOT NULL,
    `state` ENUM('pending', 'running', 'completed', 'failed') NOT NULL DEFAULT 'pending',
    `attempts` INTEGER NOT NULL DEFAULT 0,
    `run_after` DATETIME(3) NOT NULL,
    `lease_until` DATETIME(3) NULL,
    `last_error` TEXT NULL,
    `analysis_id` BIGINT NULL,
    `created_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `updated_at` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),

    INDEX `analysis_jobs_state_run_after_idx`(`state`, `run_after`),
    UNIQUE INDEX `analysis_jobs_device_id_drive_start_key`(`device_id`, `drive_start`),
    PRIMARY KEY (`job_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateIndex
CREATE INDEX `realtime_data_source_device_timestamp_idx` ON `realtime_data`(`source_device`, `timestamp`);

-- CreateIndex
CREATE INDEX `connection_log_source_device_event_type_timestamp_idx` ON `connection_log`(`source_device`, `event_type`, `timestamp`);
