#include "dynmx/fetchmail_conf.hpp"
