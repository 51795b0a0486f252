require "vacation";
vacation :handle "" :days 2 "handle is empty";
