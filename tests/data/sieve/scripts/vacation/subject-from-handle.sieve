require "vacation";
vacation :subject "Out of office" :from "Me <me@example.com>" :handle "ooo-2024" "Back on Monday.";
