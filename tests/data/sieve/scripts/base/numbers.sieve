require "fileinto";
if size :over 0K { fileinto "zero-k"; }
if size :under 1G { fileinto "under-1g"; }
if size :over 18446744073709551615 { fileinto "max"; }
