#include "commands.h"

int main(int argc, char** argv) { return jsnap::cli::Main(argc, argv); }
