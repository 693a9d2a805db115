// Placeholder entry point; replaced by the command dispatcher.
#include <cstdio>
int main() { std::puts("styleseg"); return 0; }
