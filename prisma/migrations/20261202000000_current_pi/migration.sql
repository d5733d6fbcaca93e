-- AlterTable
ALTER TABLE `ai_recommendations` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `alert_log` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `calibration_sessions` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `connection_log` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `profiles` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `realtime_data` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `statistics` ADD COLUMN `extra` JSON NULL;

-- AlterTable
ALTER TABLE `vehicle_info` ADD COLUMN `extra` JSON NULL;

-- CreateTable
CREATE TABLE `dtc_log` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `dtc_code` VARCHAR(32) NOT NULL,
    `description` TEXT NULL,
    `status` VARCHAR(16) NOT NULL,
    `first_seen_timestamp` DATETIME(6) NOT NULL,
    `last_seen_timestamp` DATETIME(6) NOT NULL,
    `drive_id` INTEGER NULL,
    `data_source` VARCHAR(32) NULL,
    `extra` JSON NULL,

    INDEX `dtc_log_source_device_dtc_code_idx`(`source_device`, `dtc_code`),
    UNIQUE INDEX `dtc_log_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `dtc_freeze_frame` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `dtc_log_id` BIGINT NULL,
    `captured_at_timestamp_utc` DATETIME(6) NOT NULL,
    `pid_responses_json` JSON NOT NULL,
    `vehicle_info_vin` VARCHAR(64) NULL,
    `notes` TEXT NULL,
    `data_source` VARCHAR(32) NULL,
    `extra` JSON NULL,

    INDEX `dtc_freeze_frame_source_device_dtc_log_id_idx`(`source_device`, `dtc_log_id`),
    UNIQUE INDEX `dtc_freeze_frame_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `drive_summary` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `drive_start_timestamp` DATETIME(6) NOT NULL,
    `ambient_temp_at_start_c` DOUBLE NULL,
    `starting_battery_v` DOUBLE NULL,
    `barometric_kpa_at_start` DOUBLE NULL,
    `data_source` VARCHAR(32) NULL,
    `extra` JSON NULL,

    UNIQUE INDEX `drive_summary_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `battery_health_log` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_id` BIGINT NOT NULL,
    `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `start_timestamp` DATETIME(6) NOT NULL,
    `end_timestamp` DATETIME(6) NULL,
    `start_soc` DOUBLE NOT NULL,
    `end_soc` DOUBLE NULL,
    `start_vcell_v` DOUBLE NULL,
    `end_vcell_v` DOUBLE NULL,
    `runtime_seconds` INTEGER NULL,
    `ambient_temp_c` DOUBLE NULL,
    `load_class` VARCHAR(32) NOT NULL,
    `notes` TEXT NULL,
    `data_source` VARCHAR(32) NULL,
    `extra` JSON NULL,

    UNIQUE INDEX `battery_health_log_source_device_source_id_key`(`source_device`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `unmapped_rows` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `source_device` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `table_name` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `source_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,
    `data` JSON NOT NULL,
    `synced_at` DATETIME(3) NOT NULL,
    `sync_batch_id` VARCHAR(64) COLLATE /*M!100000 utf8mb4_nopad_bin */ /*!80000 utf8mb4_0900_bin */ NOT NULL,

    UNIQUE INDEX `unmapped_rows_source_device_table_name_source_id_key`(`source_device`, `table_name`, `source_id`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
