require "vacation";
vacation :days 100 "a hundred days";
