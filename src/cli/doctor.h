/*
 * `tfuse doctor`: what TensorFuse makes of the CUDA driver API (doctor.c).
 */
#ifndef TFUSE_CLI_DOCTOR_H
#define TFUSE_CLI_DOCTOR_H

int tfuse_doctor_main(int argc, char **argv);

#endif
